/**
 * The TransactionStore port on one DynamoDB table: I/O and mapping only. A
 * lost conditional write becomes DuplicateTransactionError (create) or an
 * update's outcome carrying the record that won.
 */
import { randomBytes } from "node:crypto";
import {
  type AttributeValue,
  ConditionalCheckFailedException,
  TransactionCanceledException,
} from "@aws-sdk/client-dynamodb";
import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  type QueryCommandOutput,
  TransactWriteCommand,
  UpdateCommand,
} from "@aws-sdk/lib-dynamodb";
import { unmarshall } from "@aws-sdk/util-dynamodb";
import { DUE_INDEX, WAITING_INDEX } from "../../infra/topology.ts";
import type { TxRecord } from "../core/transaction.ts";
import { type Alongside, AlongsideRefusedError } from "../ports/alongside.ts";
import { DuplicateTransactionError } from "../ports/errors.ts";
import type { TransactionStore, UpdateOutcome, WaitingTx } from "../ports/transaction-store.ts";
import { asDynamoDb } from "./dynamodb-alongside.ts";
import { fromItem, participantItems, toItem } from "./dynamodb-transaction-item.ts";
import { retryTransientCancellations } from "./transient-errors.ts";

export interface DynamoDbTransactionStoreOptions {
  readonly doc: DynamoDBDocumentClient;
  readonly tableName: string;
  readonly shards: number;
  /** How long a finished record is kept before DynamoDB's TTL removes it. */
  readonly retentionSeconds: number;
  /**
   * The table of the participant index's items (the listing by participant);
   * without it, none are written.
   */
  readonly participantsTableName?: string;
}

/** 96 random bits: tells one write from another, in 16 characters of the item. */
const newWriteToken = (): string => randomBytes(12).toString("base64url");

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

  /** The record's first write; a repeat of our own (response lost, SDK retried) is done, another's a duplicate. */
  async function putRecord(tx: TxRecord, token: string): Promise<void> {
    try {
      await doc.send(
        new PutCommand({
          TableName: tableName,
          Item: toItem(tx, token, shards, retentionSeconds),
          ConditionExpression: "attribute_not_exists(id)",
          ReturnValuesOnConditionCheckFailure: "ALL_OLD",
        }),
      );
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException && err.Item) {
        if (err.Item.writeToken?.S === token) return;
        throw new DuplicateTransactionError(fromItem(unmarshall(err.Item)), { cause: err });
      }
      throw err;
    }
  }

  /**
   * An update whose condition failed on `item` (the record as stored, marshalled):
   * our own write, retried by the SDK after its response was lost, or a race lost
   * to the record that won.
   */
  const conditionFailed = (item: Record<string, AttributeValue> | undefined, token: string): UpdateOutcome =>
    item?.writeToken?.S === token
      ? { saved: true }
      : { saved: false, current: item ? fromItem(unmarshall(item)) : undefined };

  /** The conditional update of `before` to `next`, as UpdateItem and TransactWriteItems both take it. */
  function recordWrite(before: TxRecord, next: TxRecord, token: string) {
    const { expression, names, values } = updateExpression(
      toItem(before, "", shards, retentionSeconds),
      toItem(next, token, shards, retentionSeconds),
    );
    return {
      TableName: tableName,
      Key: { id: next.id },
      UpdateExpression: expression,
      // The version alone is not enough: a process may hold a record of an earlier
      // incarnation of the id (expired, then used again) at the very same version.
      ConditionExpression: "#version = :expected AND #createdAt = :incarnation",
      ExpressionAttributeNames: { ...names, "#version": "version", "#createdAt": "createdAt" },
      ExpressionAttributeValues: {
        ...values,
        ":expected": before.version,
        ":incarnation": before.createdAt,
      },
      ReturnValuesOnConditionCheckFailure: "ALL_OLD" as const,
    };
  }

  /**
   * The record's update and a participant's commit in one TransactWriteItems,
   * the record first. Its cancellation says which condition failed: the
   * record's is a lost race (the record that won comes back with it), the
   * participant's a refusal. Cancelled only by a conflict or throttling, it
   * applied nothing and is sent again (bounded); the SDK's own retries of one
   * call carry one idempotency token, so a repeat after a lost response is a no-op.
   */
  async function updateWith(
    id: string,
    token: string,
    write: ReturnType<typeof recordWrite>,
    alongside: Alongside,
  ): Promise<UpdateOutcome> {
    const { items } = asDynamoDb(alongside);
    try {
      await retryTransientCancellations(() =>
        doc.send(new TransactWriteCommand({ TransactItems: [{ Update: write }, ...items] })),
      );
      return { saved: true };
    } catch (err) {
      if (!(err instanceof TransactionCanceledException)) throw err;
      const [record, ...rest] = err.CancellationReasons ?? [];
      if (record?.Code === "ConditionalCheckFailed") return conditionFailed(record.Item, token);
      if (rest.some((r) => r.Code === "ConditionalCheckFailed"))
        throw new AlongsideRefusedError(id, { cause: err });
      throw err;
    }
  }

  return {
    shards,

    async get(id) {
      const out = await doc.send(new GetCommand({ TableName: tableName, Key: { id }, ConsistentRead: true }));
      return out.Item ? fromItem(out.Item) : undefined;
    },

    async create(tx, meanwhile) {
      const token = newWriteToken();
      // The record indexes its first two participants itself; items only for the others
      // (none for a transaction of one or two participants). Beside the record, in
      // parallel: an item alone points at nothing the listing will show (it reads every
      // record it lists). All awaited: a failed item write fails the create, and the
      // client's retry (same id) writes them again, unconditional and idempotent,
      // whether or not the record is there by then.
      const table = options.participantsTableName;
      const items =
        table === undefined
          ? Promise.resolve()
          : // One PutItem each (small items, in parallel): BatchWriteItem stays ungranted.
            Promise.all(
              participantItems(tx, shards, retentionSeconds).map((Item) =>
                doc.send(new PutCommand({ TableName: table, Item })),
              ),
            ).then(() => {});
      // Settled below, after the record: a failure meanwhile is not an unhandled rejection.
      items.catch(() => {});
      try {
        await putRecord(tx, token);
      } catch (err) {
        // The record's failure is the answer; the items' outcome is settled first.
        await Promise.allSettled([items]);
        throw err;
      }
      const [sent, indexed] = await Promise.allSettled([meanwhile?.(), items]);
      if (sent.status === "rejected") throw sent.reason;
      if (indexed.status === "rejected") throw indexed.reason;
    },

    async update(before, next, alongside) {
      const token = newWriteToken();
      const write = recordWrite(before, next, token);
      if (alongside) return updateWith(next.id, token, write, alongside);
      try {
        await doc.send(new UpdateCommand(write));
        return { saved: true };
      } catch (err) {
        if (err instanceof ConditionalCheckFailedException) return conditionFailed(err.Item, token);
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
