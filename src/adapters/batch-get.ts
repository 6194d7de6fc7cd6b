/**
 * Strongly consistent reads of many keys of one table: in chunks of what one
 * BatchGetItem takes, asking again (backed off, a bounded number of times) for
 * the keys DynamoDB hands back unprocessed when it lacks capacity.
 */
import {
  BatchGetCommand,
  type BatchGetCommandOutput,
  type DynamoDBDocumentClient,
} from "@aws-sdk/lib-dynamodb";
import { backoffMs } from "../core/backoff.ts";
import { sleep } from "../timers.ts";

type Item = Record<string, unknown>;

/** Keys one BatchGetItem accepts. */
const BATCH_GET_LIMIT = 100;
/** Rounds per chunk before giving up: unprocessed keys past this are an error, not a silent miss. */
const BATCH_GET_ROUNDS = 8;

export class UnprocessedKeysError extends Error {
  override name = "UnprocessedKeysError";
  constructor(count: number, options?: ErrorOptions) {
    super(`BatchGetItem left ${count} keys unprocessed after ${BATCH_GET_ROUNDS} rounds`, options);
  }
}

/** The items found for `keys`, in no particular order; absent keys are left out. */
export async function batchGetAll(
  doc: DynamoDBDocumentClient,
  tableName: string,
  keys: readonly Item[],
): Promise<Item[]> {
  const found: Item[] = [];
  for (let i = 0; i < keys.length; i += BATCH_GET_LIMIT) {
    let pending: Item[] = keys.slice(i, i + BATCH_GET_LIMIT);
    for (let round = 0; pending.length > 0; round++) {
      if (round === BATCH_GET_ROUNDS) throw new UnprocessedKeysError(pending.length);
      if (round > 0) await sleep(backoffMs(20, round, 1_000));
      const out: BatchGetCommandOutput = await doc.send(
        new BatchGetCommand({ RequestItems: { [tableName]: { Keys: pending, ConsistentRead: true } } }),
      );
      found.push(...(out.Responses?.[tableName] ?? []));
      pending = out.UnprocessedKeys?.[tableName]?.Keys ?? [];
    }
  }
  return found;
}
