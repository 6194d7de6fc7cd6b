/**
 * Listing transactions for operators (`GET /v1/transactions`).
 *
 * By status, the `status` index is read: its partition key is `<status>#<shard>`
 * (the shard of the record's id, as for the due index), so the writes of a busy
 * status spread over `shards` partitions instead of one hot one; a page queries
 * every shard newest first and merges them. The index holds keys only (it is
 * written only when a status changes), so the page's records are then read with
 * one strongly consistent BatchGetItem, and a record whose status changed since
 * the index was read is left out.
 *
 * Without a status, a Scan page in storage order: each record once, whatever its
 * status does meanwhile.
 */
import { type DynamoDBDocumentClient, QueryCommand, ScanCommand } from "@aws-sdk/lib-dynamodb";
import { STATUS_INDEX } from "../../infra/topology.ts";
import type { TxRecord } from "../core/transaction.ts";
import { type Status, statusOf } from "../core/view.ts";
import type { ListPage, ListQuery, TransactionListing } from "../ports/transaction-listing.ts";
import { batchGetAll } from "./batch-get.ts";
import { fromItem, statusShardOf } from "./dynamodb-transaction-item.ts";
import {
  decodeCursor,
  encodeCursor,
  type IndexKey,
  mergeNewestFirst,
  type ShardPosition,
  type ShardRead,
} from "./list-cursor.ts";

export interface DynamoDbTransactionListingOptions {
  readonly doc: DynamoDBDocumentClient;
  readonly tableName: string;
  /** The store's shards: the status index is spread over as many. */
  readonly shards: number;
}

export function createDynamoDbTransactionListing(
  options: DynamoDbTransactionListingOptions,
): TransactionListing {
  return { list: (query) => listTransactions(options, query) };
}

async function listTransactions(
  deps: DynamoDbTransactionListingOptions,
  query: ListQuery,
): Promise<ListPage> {
  const { status, limit, cursor } = query;
  const position = cursor === undefined ? undefined : decodeCursor(cursor, { status, shards: deps.shards });
  if (status === undefined) return scanPage(deps, limit, position?.by === "id" ? position.after : undefined);
  const from: readonly ShardPosition[] =
    position?.by === "status" ? position.shards : Array.from({ length: deps.shards }, () => null);
  // One more than a page per shard: a shard that returns no more than a page is known to be done.
  const reads = await Promise.all(from.map((at, shard) => readShard(deps, status, shard, at, limit + 1)));
  const { ids, next } = mergeNewestFirst(reads, limit);
  const records = await getMany(deps, ids);
  const items = records.filter((tx) => statusOf(tx.state) === status);
  const done = next.every((p) => p === "end");
  return { items, ...(done ? {} : { nextCursor: encodeCursor({ by: "status", status, shards: next }) }) };
}

async function readShard(
  deps: DynamoDbTransactionListingOptions,
  status: Status,
  shard: number,
  from: ShardPosition,
  limit: number,
): Promise<ShardRead> {
  if (from === "end") return { from, keys: [], more: false };
  const partition = statusShardOf(status, shard);
  const out = await deps.doc.send(
    new QueryCommand({
      TableName: deps.tableName,
      IndexName: STATUS_INDEX,
      KeyConditionExpression: "statusShard = :partition",
      ExpressionAttributeValues: { ":partition": partition },
      ScanIndexForward: false,
      Limit: limit,
      // Rebuilt from the cursor's id and time only: the partition is always the one asked for.
      ...(from !== null
        ? { ExclusiveStartKey: { id: from.id, createdAt: from.at, statusShard: partition } }
        : {}),
    }),
  );
  const keys: IndexKey[] = (out.Items ?? []).map((item) => ({
    id: String(item.id),
    at: Number(item.createdAt),
  }));
  return { from, keys, more: out.LastEvaluatedKey !== undefined };
}

/** The records of `ids`, in that order; ids whose record is gone (TTL) are left out. */
async function getMany(deps: DynamoDbTransactionListingOptions, ids: readonly string[]): Promise<TxRecord[]> {
  if (ids.length === 0) return [];
  const items = await batchGetAll(
    deps.doc,
    deps.tableName,
    ids.map((id) => ({ id })),
  );
  const found = new Map(items.map((item) => [String(item.id), fromItem(item)]));
  return ids.flatMap((id) => {
    const tx = found.get(id);
    return tx ? [tx] : [];
  });
}

async function scanPage(
  deps: DynamoDbTransactionListingOptions,
  limit: number,
  after: string | undefined,
): Promise<ListPage> {
  const out = await deps.doc.send(
    new ScanCommand({
      TableName: deps.tableName,
      ConsistentRead: true,
      // One more than a page: when it comes back, the page is full and more follow.
      Limit: limit + 1,
      ...(after !== undefined ? { ExclusiveStartKey: { id: after } } : {}),
    }),
  );
  const all = (out.Items ?? []).map(fromItem);
  const items = all.slice(0, limit);
  const last = items.at(-1);
  // A Scan also stops early at 1 MB of items: then its own LastEvaluatedKey says more may follow.
  const more = all.length > limit || out.LastEvaluatedKey !== undefined;
  return { items, ...(more && last ? { nextCursor: encodeCursor({ by: "id", after: last.id }) } : {}) };
}
