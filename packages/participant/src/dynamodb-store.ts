/**
 * The store port on DynamoDB: one item per barrier in the service's own table,
 * every write a conditional `PutItem` on the version read.
 *
 * Table: partition key `pk` (S), no sort key, TTL on `expiresAt`. An item:
 * `pk`, `version` (N), `state` (S), `expiresAt` (N, absent while the barrier
 * must stay) and `record` (S, the rest of the barrier as JSON).
 */
import { ConditionalCheckFailedException, type CreateTableCommandInput } from "@aws-sdk/client-dynamodb";
import { type DynamoDBDocumentClient, GetCommand, PutCommand } from "@aws-sdk/lib-dynamodb";
import type { BarrierRecord, BarrierStore, PutResult } from "./store.ts";

export interface DynamoDbBarrierStoreOptions {
  /** `DynamoDBDocumentClient.from(new DynamoDBClient({}))`. */
  readonly client: DynamoDBDocumentClient;
  readonly tableName: string;
}

/** The table the store needs, for `CreateTableCommand`; turn TTL on for `expiresAt` with `UpdateTimeToLive`. */
export function barrierTableDefinition(tableName: string): CreateTableCommandInput {
  return {
    TableName: tableName,
    AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }],
    KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }],
    BillingMode: "PAY_PER_REQUEST",
  };
}

export function createDynamoDbBarrierStore(options: DynamoDbBarrierStoreOptions): BarrierStore {
  const { client, tableName } = options;
  return {
    async get(key) {
      // Consistent: a barrier read must see the write a moment ago, or a duplicate would run again.
      const { Item } = await client.send(
        new GetCommand({ TableName: tableName, Key: { pk: key }, ConsistentRead: true }),
      );
      if (!Item) return undefined;
      const rest = JSON.parse(String(Item.record)) as Omit<BarrierRecord, "key" | "version" | "state">;
      return {
        ...rest,
        key,
        version: Number(Item.version),
        state: Item.state as BarrierRecord["state"],
        ...(Item.expiresAt !== undefined ? { expiresAt: Number(Item.expiresAt) } : {}),
      };
    },
    async put(record, expectedVersion): Promise<PutResult> {
      const { key, version, state, expiresAt, ...rest } = record;
      try {
        await client.send(
          new PutCommand({
            TableName: tableName,
            Item: {
              pk: key,
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
          }),
        );
        return { written: true };
      } catch (err) {
        if (err instanceof ConditionalCheckFailedException) return { written: false };
        throw err;
      }
    },
  };
}
