import { randomUUID } from "node:crypto";
import { ConditionalCheckFailedException } from "@aws-sdk/client-dynamodb";
import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  type QueryCommandOutput,
  UpdateCommand,
} from "@aws-sdk/lib-dynamodb";
import { unmarshall } from "@aws-sdk/util-dynamodb";
import { DUE_INDEX, WAITING_INDEX } from "../../infra/topology.ts";
import type { TxRecord } from "../core/transaction.ts";
import { isFinal, isWaiting } from "../core/transaction.ts";
import { type Status, statusOf } from "../core/view.ts";
import { listTransactions, statusShardOf } from "./dynamodb-transaction-listing.ts";
import { DuplicateTransactionError, StaleRecordError } from "./errors.ts";

/** Durable home of transaction records. Every write is conditional. */
export interface TransactionStore {
  get(id: string): Promise<TxRecord | undefined>;
  /** Writes a new record; throws DuplicateTransactionError carrying the existing one. */
  create(tx: TxRecord): Promise<void>;
  /** Replaces the record if it is still at `expectedVersion`; throws StaleRecordError otherwise. */
  save(tx: TxRecord, expectedVersion: number): Promise<void>;
  /**
   * Writes `next` over `before` if the record is still at `before.version`,
   * changing only what differs. One call: a lost race returns the record that
   * won (undefined when there is none), so the caller needs no read to retry.
   */
  update(before: TxRecord, next: TxRecord): Promise<UpdateOutcome>;
  /** Ids of transactions in one shard of the due index whose due time is at or before `now`. */
  due(shard: number, now: number, limit: number): Promise<string[]>;
  /** Undecided transactions in one shard that wait for another's lock, with their edges. */
  waiting(shard: number): Promise<WaitingTx[]>;
  /**
   * One page of transactions: with a status, newest first; without, in storage
   * order. Throws InvalidCursorError for a cursor this listing did not make.
   */
  list(query: ListQuery): Promise<ListPage>;
  readonly shards: number;
}

export type UpdateOutcome =
  | { readonly saved: true }
  | { readonly saved: false; readonly current: TxRecord | undefined };

export interface ListQuery {
  readonly status?: Status;
  readonly limit: number;
  /** `nextCursor` of the previous page. */
  readonly cursor?: string;
}

export interface ListPage {
  readonly items: readonly TxRecord[];
  /** Absent on the last page. */
  readonly nextCursor?: string;
}

export interface WaitingTx {
  readonly id: string;
  readonly createdAt: number;
  readonly waits: Readonly<Record<string, string>>;
}

export interface DynamoDbTransactionStoreOptions {
  readonly doc: DynamoDBDocumentClient;
  readonly tableName: string;
  readonly shards: number;
  /** How long a finished record is kept before DynamoDB's TTL removes it. */
  readonly retentionSeconds: number;
}

/** FNV-1a: a stable, cheap spread of ids over the due index's shards. */
export function shardOf(id: string, shards: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    hash ^= id.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % shards;
}

type Item = TxRecord & {
  dueShard?: string;
  waitShard?: string;
  statusShard?: string;
  expiresAt?: number;
  /** Unique per write: tells our own write, retried by the SDK after a lost response, from another's. */
  writeToken?: string;
};

const same = (a: unknown, b: unknown): boolean => a === b || JSON.stringify(a) === JSON.stringify(b);

/**
 * SET for each top-level attribute that `after` changes or adds, REMOVE for each
 * it drops. DynamoDB bills the write on the item's size either way; what this
 * saves is the read before it and the bytes sent.
 */
export function updateExpression(
  beforeItem: object,
  afterItem: object,
): { expression: string; names: Record<string, string>; values: Record<string, unknown> } {
  const before = beforeItem as Readonly<Record<string, unknown>>;
  const after = afterItem as Readonly<Record<string, unknown>>;
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = {};
  const set: string[] = [];
  const remove: string[] = [];
  let n = 0;
  for (const [key, value] of Object.entries(after)) {
    if (key === "id" || value === undefined || same(before[key], value)) continue;
    names[`#a${n}`] = key;
    values[`:a${n}`] = value;
    set.push(`#a${n} = :a${n}`);
    n++;
  }
  for (const [key, value] of Object.entries(before)) {
    if (key === "id" || value === undefined || after[key] !== undefined) continue;
    names[`#a${n}`] = key;
    remove.push(`#a${n}`);
    n++;
  }
  const expression = `SET ${set.join(", ")}${remove.length > 0 ? ` REMOVE ${remove.join(", ")}` : ""}`;
  return { expression, names, values };
}

export function createDynamoDbTransactionStore(options: DynamoDbTransactionStoreOptions): TransactionStore {
  const { doc, tableName, shards, retentionSeconds } = options;

  const toItem = (tx: TxRecord, writeToken: string): Item => {
    const item: Item = { ...tx, writeToken };
    // Only records the sweeper must look at carry the index keys: the index stays sparse.
    if (tx.dueAt !== undefined) item.dueShard = String(shardOf(tx.id, shards));
    item.statusShard = statusShardOf(statusOf(tx.state), shardOf(tx.id, shards));
    if (isWaiting(tx)) {
      item.waitShard = String(shardOf(tx.id, shards));
    }
    if (isFinal(tx.state))
      item.expiresAt = Math.floor((tx.completedAt ?? Date.now()) / 1000) + retentionSeconds;
    return item;
  };

  const fromItem = (item: Record<string, unknown>): TxRecord => {
    const {
      dueShard: _s,
      waitShard: _w,
      statusShard: _t,
      expiresAt: _e,
      writeToken: _k,
      ...tx
    } = item as unknown as Item;
    return tx;
  };

  return {
    shards,

    async get(id) {
      const out = await doc.send(new GetCommand({ TableName: tableName, Key: { id }, ConsistentRead: true }));
      return out.Item ? fromItem(out.Item) : undefined;
    },

    async create(tx) {
      const token = randomUUID();
      try {
        await doc.send(
          new PutCommand({
            TableName: tableName,
            Item: toItem(tx, token),
            ConditionExpression: "attribute_not_exists(id)",
            ReturnValuesOnConditionCheckFailure: "ALL_OLD",
          }),
        );
      } catch (err) {
        if (err instanceof ConditionalCheckFailedException && err.Item) {
          // The SDK retried a write whose response was lost: it is ours, and done.
          if (err.Item.writeToken?.S === token) return;
          throw new DuplicateTransactionError(fromItem(unmarshall(err.Item)), { cause: err });
        }
        throw err;
      }
    },

    async save(tx, expectedVersion) {
      const token = randomUUID();
      try {
        await doc.send(
          new PutCommand({
            TableName: tableName,
            Item: toItem(tx, token),
            ConditionExpression: "version = :expected",
            ExpressionAttributeValues: { ":expected": expectedVersion },
            ReturnValuesOnConditionCheckFailure: "ALL_OLD",
          }),
        );
      } catch (err) {
        if (err instanceof ConditionalCheckFailedException) {
          if (err.Item?.writeToken?.S === token) return;
          throw new StaleRecordError(tx.id, { cause: err });
        }
        throw err;
      }
    },

    async update(before, next) {
      const token = randomUUID();
      const { expression, names, values } = updateExpression(toItem(before, ""), toItem(next, token));
      try {
        await doc.send(
          new UpdateCommand({
            TableName: tableName,
            Key: { id: next.id },
            UpdateExpression: expression,
            ConditionExpression: "#version = :expected",
            ExpressionAttributeNames: { ...names, "#version": "version" },
            ExpressionAttributeValues: { ...values, ":expected": before.version },
            ReturnValuesOnConditionCheckFailure: "ALL_OLD",
          }),
        );
        return { saved: true };
      } catch (err) {
        if (err instanceof ConditionalCheckFailedException) {
          // Our own write, retried by the SDK after its response was lost.
          if (err.Item?.writeToken?.S === token) return { saved: true };
          return { saved: false, current: err.Item ? fromItem(unmarshall(err.Item)) : undefined };
        }
        throw err;
      }
    },

    async due(shard, now, limit) {
      const out = await doc.send(
        new QueryCommand({
          TableName: tableName,
          IndexName: DUE_INDEX,
          KeyConditionExpression: "dueShard = :shard AND dueAt <= :now",
          ExpressionAttributeValues: { ":shard": String(shard), ":now": now },
          ProjectionExpression: "id",
          Limit: limit,
        }),
      );
      return (out.Items ?? []).map((item) => String(item.id));
    },

    list: (query) => listTransactions({ doc, tableName, shards, fromItem }, query),

    async waiting(shard) {
      const found: WaitingTx[] = [];
      let start: Record<string, unknown> | undefined;
      do {
        const out: QueryCommandOutput = await doc.send(
          new QueryCommand({
            TableName: tableName,
            IndexName: WAITING_INDEX,
            KeyConditionExpression: "waitShard = :shard",
            ExpressionAttributeValues: { ":shard": String(shard) },
            ProjectionExpression: "id, createdAt, waits",
            ExclusiveStartKey: start,
          }),
        );
        for (const item of out.Items ?? []) {
          found.push({
            id: String(item.id),
            createdAt: Number(item.createdAt),
            waits: (item.waits ?? {}) as Record<string, string>,
          });
        }
        start = out.LastEvaluatedKey;
      } while (start);
      return found;
    },
  };
}
