/** The listing's cursor (opaque, validated) and the newest-first merge of its shards. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  decodeCursor,
  encodeCursor,
  type IndexKey,
  type ListPosition,
  listingOf,
  mergeNewestFirst,
  type ShardPosition,
} from "../../src/adapters/list-cursor.ts";
import { InvalidCursorError } from "../../src/ports/errors.ts";

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

describe("cursor", () => {
  const pending = listingOf({ status: "pending", participant: undefined });
  it.each<ListPosition>([
    { listing: pending, parts: [null, { at: 5, id: "a" }] },
    { listing: listingOf({}), parts: [null, { at: 5, id: "a" }] },
  ])("round-trips %j", (position) => {
    const cursor = encodeCursor(position);
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(cursor, { listing: position.listing, parts: 2 })).toEqual(position);
  });

  it("names the same filters the same whatever their order, and leaves out those not given", () => {
    expect(listingOf({ status: "pending", protocol: "2pc", since: undefined })).toBe(
      listingOf({ protocol: "2pc", status: "pending" }),
    );
    expect(listingOf({ since: 1 })).not.toBe(listingOf({ until: 1 }));
  });

  const valid = { v: 2, listing: pending, parts: [null, null] };
  it.each([
    ["empty", ""],
    ["not base64url", "abc+/="],
    ["not JSON", Buffer.from("{nope").toString("base64url")],
    ["JSON of another shape", b64({ id: "x" })],
    ["an unknown version", b64({ ...valid, v: 3 })],
    ["a version 1 cursor (a Scan's)", b64({ v: 1, by: "id", after: "x" })],
    ["extra fields", b64({ ...valid, ExclusiveStartKey: { id: "x" } })],
    ["a position with a string time", b64({ ...valid, parts: [{ at: "1", id: "x" }, null] })],
    ["a position with a negative time", b64({ ...valid, parts: [{ at: -1, id: "x" }, null] })],
    ["a position with an empty id", b64({ ...valid, parts: [{ at: 1, id: "" }, null] })],
    ["a position with a 129-character id", b64({ ...valid, parts: [{ at: 1, id: "x".repeat(129) }, null] })],
    ["another listing's filters", b64({ ...valid, listing: listingOf({ status: "aborted" }) })],
    ["another partition count", b64({ ...valid, parts: [null, null, null] })],
    ["a very long cursor", "A".repeat(40_000)],
  ])("rejects %s", (_, cursor) => {
    expect(() => decodeCursor(cursor, { listing: pending, parts: 2 })).toThrow(InvalidCursorError);
  });
});

describe("mergeNewestFirst", () => {
  const key = (at: number, id = `t${at}`): IndexKey => ({ at, id });

  it("takes the newest entries across shards and moves each shard only past what it took", () => {
    const { ids, sources, next } = mergeNewestFirst(
      [
        { from: null, keys: [key(9), key(5), key(1)], more: false },
        { from: null, keys: [key(8), key(7), key(2)], more: true },
        { from: "end", keys: [], more: false },
        { from: { at: 3, id: "x" }, keys: [], more: false },
      ],
      3,
    );
    expect(ids).toEqual(["t9", "t8", "t7"]);
    // Which read each came from: the listing tells an item's entry from a record's own.
    expect(sources).toEqual([0, 1, 1]);
    expect(next).toEqual([key(9), key(7), "end", "end"]);
  });

  it("marks a shard done only when it returned everything it had and all of it was taken", () => {
    const { ids, next } = mergeNewestFirst(
      [
        { from: null, keys: [key(4)], more: false },
        { from: null, keys: [key(3), key(2)], more: true },
      ],
      10,
    );
    // The second shard ran out of what it read but has more: the page stops before guessing.
    expect(ids).toEqual(["t4", "t3", "t2"]);
    expect(next).toEqual(["end", key(2)]);
  });

  /** A model of the index: shards of (at, id), each read newest first from a position. */
  function walk(shards: IndexKey[][], limit: number) {
    const sorted = shards.map((s) => [...s].sort((a, b) => b.at - a.at || (a.id < b.id ? 1 : -1)));
    let positions: ShardPosition[] = sorted.map(() => null);
    const pages: string[][] = [];
    for (let guard = 0; guard < 1000; guard++) {
      const reads = positions.map((from, i) => {
        const all = sorted[i] ?? [];
        if (from === "end") return { from, keys: [], more: false };
        const start = from === null ? 0 : all.findIndex((k) => k.id === from.id) + 1;
        const keys = all.slice(start, start + limit + 1);
        return { from, keys, more: start + limit + 1 < all.length };
      });
      const { ids, next } = mergeNewestFirst(reads, limit);
      pages.push(ids);
      positions = next;
      if (next.every((p) => p === "end")) return { pages, sorted };
    }
    throw new Error("the walk did not end");
  }

  it("any shards, any page size: pages walk every entry once, newest first, none empty", () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.integer({ min: 0, max: 50 }), { maxLength: 30 }), {
          minLength: 1,
          maxLength: 6,
        }),
        fc.integer({ min: 1, max: 12 }),
        (times, limit) => {
          let n = 0;
          const shards = times.map((ts) => ts.map((at) => key(at, `id${n++}`)));
          const { pages } = walk(shards, limit);
          const ids = pages.flat();
          expect(new Set(ids).size).toBe(ids.length);
          expect(ids.length).toBe(n);
          const at = new Map(shards.flat().map((k) => [k.id, k.at]));
          const ats = ids.map((id) => at.get(id) ?? -1);
          expect(ats).toEqual([...ats].sort((a, b) => b - a));
          for (const page of pages.slice(0, -1)) expect(page).toHaveLength(limit);
          if (n > 0) expect(pages.at(-1)?.length).toBeGreaterThan(0);
        },
      ),
    );
  });
});
