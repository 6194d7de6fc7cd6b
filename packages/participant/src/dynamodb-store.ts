/**
 * The store port on DynamoDB, in the service's own table: one item per
 * barrier (and incarnation), and the service's own items beside them. Every
 * barrier transition is one `TransactWriteItems`: the barrier's `Put`,
 * conditional on the version read, with the writes the rule returned — so the
 * business effect and the barrier are committed together or not at all.
 *
 * Table: partition key `pk` (S), sort key `sk` (S), TTL on `expiresAt`.
 * A barrier: `pk` = its key, `sk` = its incarnation (`-` for none), `version`
 * (N), `state` (S), `expiresAt` (N, absent while the barrier must stay) and
 * `record` (S, the rest as JSON). A service item: `pk` = the write's key,
 * `sk` = `item`, and its attributes.
 */
import { type CreateTableCommandInput, TransactionCanceledException } from "@aws-sdk/client-dynamodb";
import {
  type DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  TransactWriteCommand,
  type TransactWriteCommandInput,
} from "@aws-sdk/lib-dynamodb";
import type { BarrierRecord, BarrierStore, Item, PutResult, Write } from "./store.ts";

export interface DynamoDbBarrierStoreOptions {
  /** `DynamoDBDocumentClient.from(new DynamoDBClient({}))`. */
  readonly client: DynamoDBDocumentClient;
  readonly tableName: string;
}

/** The table the store needs, for `CreateTableCommand`; turn TTL on for `expiresAt` with `UpdateTimeToLive`. */
export function barrierTableDefinition(tableName: string): CreateTableCommandInput {
  return {
    TableName: tableName,
    AttributeDefinitions: [
      { AttributeName: "pk", AttributeType: "S" },
      { AttributeName: "sk", AttributeType: "S" },
    ],
    KeySchema: [
      { AttributeName: "pk", KeyType: "HASH" },
      { AttributeName: "sk", KeyType: "RANGE" },
    ],
    BillingMode: "PAY_PER_REQUEST",
  };
}

/** Sorts before every ISO 8601 time: the incarnation-less record is never the newest. */
const NO_INCARNATION = "-";
const ITEM = "item";
/** A transaction holds at most 100 items: the barrier and 99 writes. */
export const MAX_WRITES = 99;

type TransactItem = NonNullable<TransactWriteCommandInput["TransactItems"]>[number];

function toTransactItem(tableName: string, w: Write): TransactItem {
  const Key = { pk: w.key, sk: ITEM };
  switch (w.kind) {
    case "put":
      return {
        Put: {
          TableName: tableName,
          Item: { ...w.item, ...Key },
          ...(w.ifAbsent ? { ConditionExpression: "attribute_not_exists(pk)" } : {}),
        },
      };
    case "delete":
      return { Delete: { TableName: tableName, Key } };
    case "add": {
      // An absent attribute counts as 0: then only `0 + amount >= atLeast` decides.
      const min = w.atLeast === undefined ? undefined : w.atLeast - w.amount;
      const condition =
        min === undefined ? undefined : min <= 0 ? "attribute_not_exists(#f) OR #f >= :min" : "#f >= :min";
      return {
        Update: {
          TableName: tableName,
          Key,
          UpdateExpression: "ADD #f :amount",
          ExpressionAttributeNames: { "#f": w.field },
          ExpressionAttributeValues: { ":amount": w.amount, ...(min !== undefined ? { ":min": min } : {}) },
          ...(condition ? { ConditionExpression: condition } : {}),
        },
      };
    }
  }
}

export function createDynamoDbBarrierStore(options: DynamoDbBarrierStoreOptions): BarrierStore {
  const { client, tableName } = options;
  const fromItem = (Item: Record<string, unknown>): BarrierRecord => {
    const rest = JSON.parse(String(Item.record)) as Omit<BarrierRecord, "key" | "version" | "state">;
    return {
      ...rest,
      key: String(Item.pk),
      ...(Item.sk !== NO_INCARNATION ? { incarnation: String(Item.sk) } : {}),
      version: Number(Item.version),
      state: Item.state as BarrierRecord["state"],
      ...(Item.expiresAt !== undefined ? { expiresAt: Number(Item.expiresAt) } : {}),
    };
  };
  return {
    async get(key, incarnation) {
      // Consistent: a barrier read must see the write a moment ago, or a duplicate would run again.
      const { Item } = await client.send(
        new GetCommand({
          TableName: tableName,
          Key: { pk: key, sk: incarnation ?? NO_INCARNATION },
          ConsistentRead: true,
        }),
      );
      return Item ? fromItem(Item) : undefined;
    },
    async newest(key) {
      const { Items } = await client.send(
        new QueryCommand({
          TableName: tableName,
          KeyConditionExpression: "pk = :pk",
          ExpressionAttributeValues: { ":pk": key },
          ScanIndexForward: false,
          Limit: 1,
          ConsistentRead: true,
        }),
      );
      const Item = Items?.[0];
      return Item ? fromItem(Item) : undefined;
    },
    async put(record, expectedVersion, writes = []): Promise<PutResult> {
      if (writes.length > MAX_WRITES) throw new RangeError(`at most ${MAX_WRITES} writes per step`);
      const { key, incarnation, version, state, expiresAt, ...rest } = record;
      const barrier: TransactItem = {
        Put: {
          TableName: tableName,
          Item: {
            pk: key,
            sk: incarnation ?? NO_INCARNATION,
            version,
            state,
            record: JSON.stringify(rest),
            ...(expiresAt !== undefined ? { expiresAt } : {}),
          },
          ...(expectedVersion === 0
            ? { ConditionExpression: "attribute_not_exists(pk)" }
            : {
                ConditionExpression: "version = :expected",
                ExpressionAttributeValues: { ":expected": expectedVersion },
              }),
        },
      };
      try {
        await client.send(
          new TransactWriteCommand({
            TransactItems: [barrier, ...writes.map((w) => toTransactItem(tableName, w))],
          }),
        );
        return { written: true };
      } catch (err) {
        // Cancelled by a condition (the barrier's version, or a write's), not by anything transient.
        if (
          err instanceof TransactionCanceledException &&
          err.CancellationReasons?.some((r) => r.Code === "ConditionalCheckFailed") &&
          err.CancellationReasons.every((r) => r.Code === "ConditionalCheckFailed" || r.Code === "None")
        ) {
          return { written: false };
        }
        throw err;
      }
    },
    async readItem(key): Promise<Item | undefined> {
      const { Item } = await client.send(
        new GetCommand({ TableName: tableName, Key: { pk: key, sk: ITEM }, ConsistentRead: true }),
      );
      if (!Item) return undefined;
      const { pk: _pk, sk: _sk, ...attributes } = Item;
      return attributes;
    },
  };
}
