import { ConditionalCheckFailedException, TransactionCanceledException } from "@aws-sdk/client-dynamodb";
import {
  BatchGetCommand,
  type BatchGetCommandOutput,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from "@aws-sdk/lib-dynamodb";
import { PREPARED_INDEX } from "../../infra/topology.ts";
import {
  AccountLockedError,
  type BankStore,
  type Barrier,
  BarrierConflictError,
  type StoredAccount,
} from "../participants/bank/bank-store.ts";
import { StaleRecordError } from "./errors.ts";
import { retryTransientCancellations } from "./transient-errors.ts";

export interface DynamoDbBankStoreOptions {
  readonly doc: DynamoDBDocumentClient;
  readonly tableName: string;
  /** How long a settled barrier is kept: longer than any message can live in SQS (14 days). */
  readonly retentionSeconds: number;
}

// Account ids never contain '#', so these keys cannot collide.
export const accountKey = (server: string, account: string): string => `account#${server}#${account}`;
export const barrierKey = (server: string, txId: string): string => `barrier#${server}#${txId}`;

const BATCH_GET_LIMIT = 100;

function toAccount(item: Record<string, unknown>): StoredAccount {
  return {
    server: String(item.server),
    account: String(item.account),
    balance: Number(item.balance),
    version: Number(item.version),
    ...(typeof item.lockedBy === "string" ? { lockedBy: item.lockedBy } : {}),
    ...(typeof item.lockedAt === "number" ? { lockedAt: item.lockedAt } : {}),
    ...(typeof item.lockedByStartedAt === "number" ? { lockedByStartedAt: item.lockedByStartedAt } : {}),
  };
}

function toBarrier(item: Record<string, unknown>): Barrier {
  const { pk: _pk, kind: _kind, expiresAt: _e, preparedShard: _s, preparedAt: _p, ...barrier } = item;
  return barrier as unknown as Barrier;
}

export function createDynamoDbBankStore(options: DynamoDbBankStoreOptions): BankStore {
  const { doc, tableName, retentionSeconds } = options;
  const expiry = (now: number) => Math.floor(now / 1000) + retentionSeconds;

  /** Strongly consistent reads of many keys, in chunks, asking again for what comes back unprocessed. */
  async function batchGet(pks: readonly string[]): Promise<Record<string, unknown>[]> {
    const found: Record<string, unknown>[] = [];
    for (let i = 0; i < pks.length; i += BATCH_GET_LIMIT) {
      let keys: Record<string, unknown>[] | undefined = pks
        .slice(i, i + BATCH_GET_LIMIT)
        .map((pk) => ({ pk }));
      for (let attempt = 0; keys && keys.length > 0; attempt++) {
        if (attempt > 10)
          throw new Error(`BatchGetItem left ${keys.length} keys unprocessed after ${attempt} tries`);
        if (attempt > 0) await new Promise((r) => setTimeout(r, Math.min(1000, 20 * 2 ** attempt)));
        const out: BatchGetCommandOutput = await doc.send(
          new BatchGetCommand({ RequestItems: { [tableName]: { Keys: keys, ConsistentRead: true } } }),
        );
        found.push(...(out.Responses?.[tableName] ?? []));
        keys = out.UnprocessedKeys?.[tableName]?.Keys;
      }
    }
    return found;
  }

  /**
   * Runs one TransactWriteItems whose first item is the barrier, mapping cancellations.
   * A cancellation only for TransactionConflict or throttling applied nothing and the
   * SDK does not retry it, so it is sent again here (jittered backoff, bounded); every
   * caller's items are conditional on the barrier, so a repeat can never apply twice.
   * Still refused after the last attempt: TransientStoreError, and the message returns.
   */
  async function transact(txId: string, items: NonNullable<TransactWriteCommand["input"]["TransactItems"]>) {
    await retryTransientCancellations(async () => {
      try {
        await doc.send(new TransactWriteCommand({ TransactItems: items }));
      } catch (err) {
        if (err instanceof TransactionCanceledException) {
          const reasons = err.CancellationReasons ?? [];
          if (reasons.some((r) => r.Code === "ConditionalCheckFailed")) {
            throw new BarrierConflictError(txId, reasons[0]?.Code === "ConditionalCheckFailed", {
              cause: err,
            });
          }
        }
        throw err;
      }
    });
  }

  return {
    async getBarrier(server, txId) {
      const out = await doc.send(
        new GetCommand({ TableName: tableName, Key: { pk: barrierKey(server, txId) }, ConsistentRead: true }),
      );
      return out.Item ? toBarrier(out.Item) : undefined;
    },

    async getAccount(server, id) {
      const out = await doc.send(
        new GetCommand({ TableName: tableName, Key: { pk: accountKey(server, id) }, ConsistentRead: true }),
      );
      return out.Item ? toAccount(out.Item) : undefined;
    },

    async loadForPrepare(server, txId, ids) {
      // One round trip: the barrier and the accounts live in the same table.
      const items = await batchGet([barrierKey(server, txId), ...ids.map((id) => accountKey(server, id))]);
      const barrier = items.find((i) => i.kind === "barrier");
      const accounts = items.filter((i) => i.kind === "account").map(toAccount);
      return {
        ...(barrier ? { barrier: toBarrier(barrier) } : {}),
        accounts: new Map(accounts.map((a) => [a.account, a])),
      };
    },

    async prepare(barrier, now) {
      await transact(barrier.txId, [
        {
          Put: {
            TableName: tableName,
            // preparedShard/preparedAt put it in the sparse index of barriers that may be in doubt.
            Item: {
              pk: barrierKey(barrier.server, barrier.txId),
              kind: "barrier",
              ...barrier,
              preparedShard: barrier.server,
              preparedAt: now,
            },
            ConditionExpression: "attribute_not_exists(pk)",
          },
        },
        ...barrier.effects.map((e) => ({
          Update: {
            TableName: tableName,
            Key: { pk: accountKey(barrier.server, e.account) },
            UpdateExpression: "SET lockedBy = :tx, lockedAt = :now, lockedByStartedAt = :started",
            ConditionExpression: "attribute_exists(pk) AND version = :v AND attribute_not_exists(lockedBy)",
            ExpressionAttributeValues: {
              ":tx": barrier.txId,
              ":now": now,
              ":v": e.version,
              ":started": barrier.txStartedAt ?? now,
            },
          },
        })),
      ]);
    },

    async refuse(barrier) {
      try {
        await doc.send(
          new PutCommand({
            TableName: tableName,
            Item: {
              pk: barrierKey(barrier.server, barrier.txId),
              kind: "barrier",
              ...barrier,
              expiresAt: expiry(barrier.createdAt),
            },
            ConditionExpression: "attribute_not_exists(pk)",
          }),
        );
      } catch (err) {
        if (err instanceof ConditionalCheckFailedException) {
          throw new BarrierConflictError(barrier.txId, true, { cause: err });
        }
        throw err;
      }
    },

    async commit(barrier, now) {
      await transact(barrier.txId, [
        {
          Update: {
            TableName: tableName,
            Key: { pk: barrierKey(barrier.server, barrier.txId) },
            UpdateExpression:
              "SET #state = :committed, decidedAt = :now, expiresAt = :exp REMOVE preparedShard",
            ConditionExpression: "#state = :prepared",
            ExpressionAttributeNames: { "#state": "state" },
            ExpressionAttributeValues: {
              ":committed": "committed",
              ":prepared": "prepared",
              ":now": now,
              ":exp": expiry(now),
            },
          },
        },
        ...barrier.effects.map((e) => ({
          Update: {
            TableName: tableName,
            Key: { pk: accountKey(barrier.server, e.account) },
            UpdateExpression:
              "SET balance = balance + :delta, version = version + :one REMOVE lockedBy, lockedAt, lockedByStartedAt",
            ConditionExpression: "lockedBy = :tx",
            ExpressionAttributeValues: { ":delta": e.delta, ":one": 1, ":tx": barrier.txId },
          },
        })),
      ]);
    },

    async rollback(barrier, now) {
      await transact(barrier.txId, [
        {
          Update: {
            TableName: tableName,
            Key: { pk: barrierKey(barrier.server, barrier.txId) },
            UpdateExpression:
              "SET #state = :rolledBack, decidedAt = :now, expiresAt = :exp REMOVE preparedShard",
            ConditionExpression: "#state = :prepared",
            ExpressionAttributeNames: { "#state": "state" },
            ExpressionAttributeValues: {
              ":rolledBack": "rolled_back",
              ":prepared": "prepared",
              ":now": now,
              ":exp": expiry(now),
            },
          },
        },
        ...barrier.effects.map((e) => ({
          Update: {
            TableName: tableName,
            Key: { pk: accountKey(barrier.server, e.account) },
            UpdateExpression: "REMOVE lockedBy, lockedAt, lockedByStartedAt",
            ConditionExpression: "lockedBy = :tx",
            ExpressionAttributeValues: { ":tx": barrier.txId },
          },
        })),
      ]);
    },

    async rollbackUnprepared(server, txId, now) {
      const barrier: Barrier = {
        server,
        txId,
        state: "rolled_back",
        effects: [],
        createdAt: now,
        decidedAt: now,
      };
      try {
        await doc.send(
          new PutCommand({
            TableName: tableName,
            Item: { pk: barrierKey(server, txId), kind: "barrier", ...barrier, expiresAt: expiry(now) },
            ConditionExpression: "attribute_not_exists(pk)",
          }),
        );
      } catch (err) {
        if (err instanceof ConditionalCheckFailedException)
          throw new BarrierConflictError(txId, true, { cause: err });
        throw err;
      }
    },

    async preparedBefore(server, before, limit) {
      const out = await doc.send(
        new QueryCommand({
          TableName: tableName,
          IndexName: PREPARED_INDEX,
          KeyConditionExpression: "preparedShard = :server AND preparedAt < :before",
          ExpressionAttributeValues: { ":server": server, ":before": before },
          Limit: limit,
        }),
      );
      return (out.Items ?? []).map(toBarrier);
    },

    async putAccount(server, id, balance) {
      try {
        const out = await doc.send(
          new UpdateCommand({
            TableName: tableName,
            Key: { pk: accountKey(server, id) },
            UpdateExpression:
              "SET kind = :kind, #server = :server, account = :account, balance = :balance, version = if_not_exists(version, :zero) + :one",
            ConditionExpression: "attribute_not_exists(lockedBy)",
            ExpressionAttributeNames: { "#server": "server" },
            ExpressionAttributeValues: {
              ":kind": "account",
              ":server": server,
              ":account": id,
              ":balance": balance,
              ":zero": 0,
              ":one": 1,
            },
            ReturnValues: "ALL_NEW",
            ReturnValuesOnConditionCheckFailure: "ALL_OLD",
          }),
        );
        return toAccount(out.Attributes ?? {});
      } catch (err) {
        if (err instanceof ConditionalCheckFailedException) {
          const lockedBy = err.Item?.lockedBy?.S;
          if (lockedBy) throw new AccountLockedError(id, lockedBy, { cause: err });
          throw new StaleRecordError(accountKey(server, id), { cause: err });
        }
        throw err;
      }
    },
  };
}
