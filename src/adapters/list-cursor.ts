/**
 * The transaction listing's page cursor and the merge of its index partitions.
 *
 * A cursor is opaque to clients (base64url of JSON) and checked on the way back
 * in: only ids and timestamps are taken from it, and the index keys around them
 * are rebuilt by the store, so a forged cursor can at most move within the
 * listing it names. Pure: no I/O.
 */
import * as z from "zod";
import { InvalidCursorError } from "../ports/errors.ts";

/** An entry of a listing index: which transaction, created when. */
export interface IndexKey {
  readonly at: number;
  readonly id: string;
}

/** Where one partition's newest-first walk stands: not started (null), after an entry, or done. */
export type ShardPosition = null | IndexKey | "end";

/**
 * Where a listing stands: its filters (canonical text: a cursor serves only the
 * listing that made it) and each of its index partitions' positions.
 */
export interface ListPosition {
  readonly listing: string;
  readonly parts: readonly ShardPosition[];
}

// Room for a few hundred partitions; anything longer was not made here.
const MAX_CURSOR_CHARS = 32_768;
// Version 1 cursors (a Scan's, or the status index's alone) mean nothing to this listing.
const CURSOR_VERSION = 2;

const id = z.string().min(1).max(128);
const position = z.union([
  z.null(),
  z.literal("end"),
  z.strictObject({ at: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER), id }),
]);
const cursorSchema = z.strictObject({
  v: z.literal(CURSOR_VERSION),
  listing: z.string().max(1024),
  parts: z.array(position).min(1),
});

/** A listing's filters as one canonical text: the same filters give the same text. */
export const listingOf = (filters: Readonly<Record<string, string | number | undefined>>): string =>
  JSON.stringify(
    Object.keys(filters)
      .sort()
      .flatMap((k) => (filters[k] === undefined ? [] : [[k, filters[k]]])),
  );

export function encodeCursor(position: ListPosition): string {
  return Buffer.from(JSON.stringify({ v: CURSOR_VERSION, ...position })).toString("base64url");
}

/**
 * Reads a cursor made by `encodeCursor` for the same listing (the same filters)
 * over as many partitions. Anything else is an InvalidCursorError.
 */
export function decodeCursor(
  cursor: string,
  expected: { readonly listing: string; readonly parts: number },
): ListPosition {
  if (cursor.length === 0 || cursor.length > MAX_CURSOR_CHARS || !/^[A-Za-z0-9_-]+$/.test(cursor)) {
    throw new InvalidCursorError("not a cursor from this API");
  }
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch (err) {
    throw new InvalidCursorError("not a cursor from this API", { cause: err });
  }
  const parsed = cursorSchema.safeParse(json);
  if (!parsed.success) throw new InvalidCursorError("not a cursor from this API", { cause: parsed.error });
  const { v: _v, ...position } = parsed.data;
  if (position.listing !== expected.listing) {
    throw new InvalidCursorError("it belongs to a listing with other filters; start over with these");
  }
  // The shard count changed since the cursor was made: its positions mean nothing now.
  if (position.parts.length !== expected.parts) throw new InvalidCursorError("it has expired; start over");
  return position;
}

/** What one shard's query returned: entries newest first, and whether it stopped before the end. */
export interface ShardRead {
  readonly from: ShardPosition;
  readonly keys: readonly IndexKey[];
  readonly more: boolean;
}

/**
 * Merges the shards' newest-first reads into one page of at most `limit` ids,
 * newest first, each with the read it came from (`sources`), and says where each
 * shard stands afterwards. A shard's position moves only past entries that were
 * taken, so pages never repeat or skip an entry.
 */
export function mergeNewestFirst(
  reads: readonly ShardRead[],
  limit: number,
): { readonly ids: string[]; readonly sources: number[]; readonly next: ShardPosition[] } {
  const heads = reads.map(() => 0);
  const ids: string[] = [];
  // The read each id was taken from, by index.
  const sources: number[] = [];
  while (ids.length < limit) {
    let best = -1;
    let bestAt = Number.NEGATIVE_INFINITY;
    let blocked = false;
    reads.forEach((read, i) => {
      const key = read.keys[heads[i] ?? 0];
      if (key === undefined) {
        // Read out but not at its end: its next entry may be the newest; stop rather than guess.
        if (read.more) blocked = true;
        return;
      }
      if (key.at > bestAt) {
        best = i;
        bestAt = key.at;
      }
    });
    const read = reads[best];
    const key = read?.keys[heads[best] ?? 0];
    if (blocked || !key) break;
    ids.push(key.id);
    sources.push(best);
    heads[best] = (heads[best] ?? 0) + 1;
  }
  const next = reads.map((read, i): ShardPosition => {
    const taken = heads[i] ?? 0;
    if (read.from === "end" || (taken === read.keys.length && !read.more)) return "end";
    return taken > 0 ? (read.keys[taken - 1] ?? read.from) : read.from;
  });
  return { ids, sources, next };
}
