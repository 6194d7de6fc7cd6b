/**
 * Transactions in flight, counted on the status index for a metrics scrape:
 * keys only, COUNT queries, one per shard, at most a few pages each — cheap
 * and bounded however many transactions there are.
 */
import { type DynamoDBDocumentClient, QueryCommand, type QueryCommandOutput } from "@aws-sdk/lib-dynamodb";
import { STATUS_INDEX } from "../../infra/topology.ts";
import { statusShardOf } from "./dynamodb-transaction-item.ts";

export interface TransactionGaugeOptions {
  readonly doc: DynamoDBDocumentClient;
  readonly tableName: string;
  readonly shards: number;
  /** Pages (1 MB of keys, tens of thousands of items) read per shard at most; past them the count is a floor. */
  readonly maxPagesPerShard?: number;
}

/** Undecided transactions (status `pending`), at most what `maxPagesPerShard` pages per shard hold. */
export async function countInFlight(options: TransactionGaugeOptions): Promise<number> {
  const { doc, tableName, shards } = options;
  const maxPages = options.maxPagesPerShard ?? 4;
  const perShard = await Promise.all(
    Array.from({ length: shards }, async (_, shard) => {
      let count = 0;
      let start: Record<string, unknown> | undefined;
      for (let page = 0; page < maxPages; page++) {
        const out: QueryCommandOutput = await doc.send(
          new QueryCommand({
            TableName: tableName,
            IndexName: STATUS_INDEX,
            KeyConditionExpression: "statusShard = :s",
            ExpressionAttributeValues: { ":s": statusShardOf("pending", shard) },
            Select: "COUNT",
            ExclusiveStartKey: start,
          }),
        );
        count += out.Count ?? 0;
        start = out.LastEvaluatedKey;
        if (!start) break;
      }
      return count;
    }),
  );
  return perShard.reduce((a, b) => a + b, 0);
}
