/**
 * The TransactionStore port on one DynamoDB table: I/O and mapping only. A
 * lost conditional write becomes StaleRecordError or DuplicateTransactionError.
 */
import { randomUUID } from "node:crypto";
import { ConditionalCheckFailedException } from "@aws-sdk/client-dynamodb";
import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  type QueryCommandOutput,
} from "@aws-sdk/lib-dynamodb";
import { unmarshall } from "@aws-sdk/util-dynamodb";
import { DUE_INDEX, WAITING_INDEX } from "../../infra/topology.ts";
import { DuplicateTransactionError, StaleRecordError } from "../ports/errors.ts";
import type { TransactionStore, WaitingTx } from "../ports/transaction-store.ts";
import { fromItem, toItem } from "./dynamodb-transaction-item.ts";

export interface DynamoDbTransactionStoreOptions {
  readonly doc: DynamoDBDocumentClient;
  readonly tableName: string;
  readonly shards: number;
  /** How long a finished record is kept before DynamoDB's TTL removes it. */
  readonly retentionSeconds: number;
}

export function createDynamoDbTransactionStore(options: DynamoDbTransactionStoreOptions): TransactionStore {
  const { doc, tableName, shards, retentionSeconds } = options;

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
            Item: toItem(tx, token, shards, retentionSeconds),
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
            Item: toItem(tx, token, shards, retentionSeconds),
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
