/**
 * Listing transactions for operators (`GET /v1/transactions`), by index only:
 * never a Scan, whatever the filters.
 *
 * Each listing reads one index, the most selective its filters allow:
 * - `participant`: the record's `participant1` and `participant2` indexes (its
 *   first two participants, sorted) and the participant index over the small
 *   items written beside the create for any further ones (transaction-participants
 *   table), all three read and merged;
 * - else `status`: the status index (its key changes with the status);
 * - else `protocol`, or no filter at all: the protocol index (every record is in
 *   it once, under its protocol: no filter reads both protocols' partitions).
 * Every index's partition key is `<value>#<shard>` (the shard of the record's
 * id), so no busy value is one hot partition, and its sort key is `createdAt`:
 * `since`/`until` are key conditions. A page queries each partition newest first
 * and merges them (list-cursor.ts). The indexes hold keys only, so the page's
 * records are then read with one strongly consistent BatchGetItem; a record that
 * no longer matches every filter (its status changed, or a filter the index does
 * not serve) is left out, so a page may come short while more follow.
 */
import { type DynamoDBDocumentClient, QueryCommand } from "@aws-sdk/lib-dynamodb";
import {
  PARTICIPANT_1_INDEX,
  PARTICIPANT_2_INDEX,
  PARTICIPANT_INDEX,
  PROTOCOL_INDEX,
  STATUS_INDEX,
} from "../../infra/topology.ts";
import { PROTOCOLS, type TxRecord } from "../core/transaction.ts";
import { statusOf } from "../core/view.ts";
import type { ListPage, ListQuery, TransactionListing } from "../ports/transaction-listing.ts";
import { batchGetAll } from "./batch-get.ts";
import {
  fromItem,
  participantItemKey,
  participantShardOf,
  protocolShardOf,
  statusShardOf,
  txIdOfParticipantItemKey,
} from "./dynamodb-transaction-item.ts";
import {
  decodeCursor,
  encodeCursor,
  type IndexKey,
  listingOf,
  mergeNewestFirst,
  type ShardPosition,
  type ShardRead,
} from "./list-cursor.ts";

export interface DynamoDbTransactionListingOptions {
  readonly doc: DynamoDBDocumentClient;
  readonly tableName: string;
  /** The transaction-participants table (the participant index's items). */
  readonly participantsTableName: string;
  /** The store's shards: every listing index is spread over as many. */
  readonly shards: number;
}

/** One partition of one index: where to query, and how its entries name a transaction. */
interface Partition {
  readonly table: string;
  readonly index: string;
  readonly attribute: string;
  readonly value: string;
  /** The table key of an entry with this id, for ExclusiveStartKey. */
  readonly tableKey: (id: string) => Record<string, string>;
  readonly idOf: (item: Record<string, unknown>) => string;
  /** The transaction-participants table's: its entries may repeat what the records index. */
  readonly pointers?: true;
}

export function createDynamoDbTransactionListing(
  options: DynamoDbTransactionListingOptions,
): TransactionListing {
  return { list: (query) => listTransactions(options, query) };
}

/** The partitions a listing reads: one index, each of its values the filters allow, every shard. */
function partitionsOf(deps: DynamoDbTransactionListingOptions, query: ListQuery): Partition[] {
  const shards = Array.from({ length: deps.shards }, (_, shard) => shard);
  const byId = (item: Record<string, unknown>) => String(item.id);
  const { participant, status, protocol } = query;
  if (participant !== undefined) {
    return shards.flatMap((shard): Partition[] => {
      const value = participantShardOf(participant, shard);
      return [
        ...[PARTICIPANT_1_INDEX, PARTICIPANT_2_INDEX].map((index) => ({
          table: deps.tableName,
          index,
          attribute: `${index}Shard`,
          value,
          tableKey: (id: string) => ({ id }),
          idOf: byId,
        })),
        {
          table: deps.participantsTableName,
          index: PARTICIPANT_INDEX,
          attribute: "participantShard",
          value,
          tableKey: (id) => ({ key: participantItemKey(id, participant) }),
          idOf: (item) => txIdOfParticipantItemKey(String(item.key)),
          pointers: true,
        },
      ];
    });
  }
  if (status !== undefined) {
    return shards.map((shard) => ({
      table: deps.tableName,
      index: STATUS_INDEX,
      attribute: "statusShard",
      value: statusShardOf(status, shard),
      tableKey: (id) => ({ id }),
      idOf: byId,
    }));
  }
  return (protocol !== undefined ? [protocol] : PROTOCOLS).flatMap((p) =>
    shards.map((shard) => ({
      table: deps.tableName,
      index: PROTOCOL_INDEX,
      attribute: "protocolShard",
      value: protocolShardOf(p, shard),
      tableKey: (id) => ({ id }),
      idOf: byId,
    })),
  );
}

/** Whether a record (read after its index entry) still matches every filter. */
const matches = (query: ListQuery) => (tx: TxRecord) =>
  (query.status === undefined || statusOf(tx.state) === query.status) &&
  (query.protocol === undefined || tx.protocol === query.protocol) &&
  (query.participant === undefined || tx.branches.some((b) => b.participant === query.participant));

async function listTransactions(
  deps: DynamoDbTransactionListingOptions,
  query: ListQuery,
): Promise<ListPage> {
  const { limit, cursor } = query;
  const parts = partitionsOf(deps, query);
  const listing = listingOf({
    status: query.status,
    protocol: query.protocol,
    participant: query.participant,
    since: query.since,
    until: query.until,
  });
  const from: readonly ShardPosition[] =
    cursor === undefined
      ? parts.map(() => null)
      : decodeCursor(cursor, { listing, parts: parts.length }).parts;
  // One more than a page per partition: one that returns no more than a page is known to be done.
  const reads = await Promise.all(
    parts.map((part, i) => readPartition(deps, part, from[i] ?? null, limit + 1, query)),
  );
  const { ids, sources, next } = mergeNewestFirst(reads, limit);
  const found = await getMany(deps, ids);
  const keep = matches(query);
  const items = ids.flatMap((id, k) => {
    const item = found.get(id);
    const part = parts[sources[k] ?? 0];
    // A record that indexes the participant itself is listed by that index alone, even
    // if an item points at it too (a record written over one from before its indexes).
    if (
      !item ||
      (part?.pointers && (item.participant1Shard === part.value || item.participant2Shard === part.value))
    ) {
      return [];
    }
    const tx = fromItem(item);
    return keep(tx) ? [tx] : [];
  });
  const done = next.every((p) => p === "end");
  return { items, ...(done ? {} : { nextCursor: encodeCursor({ listing, parts: next }) }) };
}

async function readPartition(
  deps: DynamoDbTransactionListingOptions,
  part: Partition,
  from: ShardPosition,
  limit: number,
  query: ListQuery,
): Promise<ShardRead> {
  if (from === "end") return { from, keys: [], more: false };
  const { since, until } = query;
  // `until` is exclusive: createdAt <= until - 1 (times are whole milliseconds).
  const range =
    since !== undefined && until !== undefined
      ? " AND createdAt BETWEEN :since AND :last"
      : since !== undefined
        ? " AND createdAt >= :since"
        : until !== undefined
          ? " AND createdAt <= :last"
          : "";
  const out = await deps.doc.send(
    new QueryCommand({
      TableName: part.table,
      IndexName: part.index,
      KeyConditionExpression: `${part.attribute} = :partition${range}`,
      ExpressionAttributeValues: {
        ":partition": part.value,
        ...(since !== undefined ? { ":since": since } : {}),
        ...(until !== undefined ? { ":last": until - 1 } : {}),
      },
      ScanIndexForward: false,
      Limit: limit,
      // Rebuilt from the cursor's id and time only: the partition is always the one asked for.
      ...(from !== null
        ? {
            ExclusiveStartKey: {
              ...part.tableKey(from.id),
              createdAt: from.at,
              [part.attribute]: part.value,
            },
          }
        : {}),
    }),
  );
  const keys: IndexKey[] = (out.Items ?? []).map((item) => ({
    id: part.idOf(item),
    at: Number(item.createdAt),
  }));
  return { from, keys, more: out.LastEvaluatedKey !== undefined };
}

/** The items of the records of `ids`, by id; a record gone (TTL) or never written is absent. */
async function getMany(
  deps: DynamoDbTransactionListingOptions,
  ids: readonly string[],
): Promise<Map<string, Record<string, unknown>>> {
  if (ids.length === 0) return new Map();
  const items = await batchGetAll(
    deps.doc,
    deps.tableName,
    [...new Set(ids)].map((id) => ({ id })),
  );
  return new Map(items.map((item) => [String(item.id), item]));
}
