/**
 * `GET /v1/transactions` at scale, on DynamoDB Local: every filter (status,
 * protocol, participant, since/until, and combinations) is served by an index,
 * never a Scan; pages walk every match exactly once, newest first, and stay
 * stable while new transactions arrive.
 */

import { PutCommand } from "@aws-sdk/lib-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { physicalName, TX_PARTICIPANTS_TABLE } from "../../infra/topology.ts";
import type { ListQuery, TransactionPage } from "../../packages/client/src/index.ts";
import { CallCounter } from "../../src/adapters/call-counter.ts";
import {
  participantItemKey,
  participantShardOf,
  toItem,
} from "../../src/adapters/dynamodb-transaction-item.ts";
import { createDynamoDbTransactionStore } from "../../src/adapters/dynamodb-transaction-store.ts";
import { begin as beginSaga } from "../../src/core/saga.ts";
import type { TxRecord } from "../../src/core/transaction.ts";
import { begin as beginTwoPc } from "../../src/core/two-phase-commit.ts";
import { shardOf, type TransactionStore } from "../../src/ports/transaction-store.ts";
import { policyOf } from "../../src/wiring.ts";
import { type Stack, startStack } from "../helpers/stack.ts";

const COUNT = 360;
// Recent: the index items expire a retention after the deadline, and DynamoDB Local's TTL deletes them.
const BASE = Math.floor((Date.now() - COUNT * 1_000 - 60_000) / 1_000) * 1_000;
const counter = new CallCounter();
let stack: Stack;
let store: TransactionStore;
const all: TxRecord[] = [];

/**
 * Transaction i: a saga every third, committed every fourth, one second apart; at
 * bank-9 alone every seventh, else at two to four participants. Sorted, the record
 * indexes its first two itself: bank-9 is first (alone), second (after a bank-k),
 * or third (after a-shop and a bank-k, so an item of its own); loyalty always has an item.
 */
function record(i: number, at = BASE + i * 1_000): TxRecord {
  const id = `lst-${String(i).padStart(4, "0")}`;
  const participants =
    i % 7 === 1
      ? ["bank-9"]
      : [
          `bank-${(i % 3) + 1}`,
          ...(i % 5 === 0 ? ["loyalty"] : []),
          ...(i % 11 === 0 ? ["a-shop"] : []),
          "bank-9",
        ];
  const branches = participants.map((participant) => ({
    participant,
    action: "deposit",
    input: { account: "a", amount: 1 },
    ...(i % 3 === 0 ? { compensation: { action: "withdraw", input: { account: "a", amount: 1 } } } : {}),
  }));
  const common = { id, branches, timeoutMs: 3_600_000, requestHash: "h" };
  const policy = policyOf(stack.config);
  const { next } =
    i % 3 === 0 ? beginSaga({ ...common, atomicStages: [] }, at, policy) : beginTwoPc(common, at, policy);
  if (i % 4 !== 0) return next;
  const { dueAt: _due, ...decided } = next;
  return { ...decided, state: "committed" } as TxRecord;
}

beforeAll(async () => {
  stack = await startStack({
    roles: ["api"],
    counter,
    bankServers: ["bank-1", "bank-2", "bank-3", "bank-9"],
  });
  const { topology, timing } = stack.config;
  store = createDynamoDbTransactionStore({
    doc: stack.runtime.clients.doc,
    tableName: physicalName(topology, topology.tables.transactions.name),
    participantsTableName: physicalName(topology, TX_PARTICIPANTS_TABLE),
    shards: topology.dueShards,
    retentionSeconds: timing.retentionSeconds,
  });
  for (let i = 0; i < COUNT; i += 24) {
    const batch = Array.from({ length: Math.min(24, COUNT - i) }, (_, k) => record(i + k));
    await Promise.all(batch.map((tx) => store.create(tx)));
    all.push(...batch);
  }
}, 120_000);
afterAll(() => stack?.stop());

/** Every page of the listing `query` (a query string, as the tests' names show it), through the client. */
async function walk(query: string, between?: (page: number) => Promise<void>) {
  const params = new URLSearchParams(query);
  const filters = { ...Object.fromEntries(params), limit: Number(params.get("limit") ?? 20) } as ListQuery;
  const pages: TransactionPage[] = [];
  for await (const page of stack.client.list(filters)) {
    pages.push(page);
    await between?.(pages.length);
    expect(pages.length).toBeLessThan(200);
  }
  return pages.flatMap((p) => p.transactions);
}

const committed = (tx: TxRecord) => tx.state === "committed";
const at = (participant: string) => (tx: TxRecord) => tx.branches.some((b) => b.participant === participant);
const iso = (ms: number) => new Date(ms).toISOString();

describe("GET /v1/transactions over indexes", () => {
  it.each<[string, (tx: TxRecord) => boolean]>([
    ["limit=37", () => true],
    ["status=committed&limit=25", committed],
    ["status=pending&limit=50", (tx) => !committed(tx)],
    ["protocol=saga&limit=30", (tx) => tx.protocol === "saga"],
    ["participant=bank-2&limit=40", at("bank-2")],
    ["participant=bank-9&limit=45", at("bank-9")],
    ["participant=a-shop&limit=3", at("a-shop")],
    ["participant=bank-9&status=pending&limit=64", (tx) => at("bank-9")(tx) && !committed(tx)],
    ["participant=loyalty&status=committed&limit=7", (tx) => at("loyalty")(tx) && committed(tx)],
    ["protocol=2pc&status=pending&limit=33", (tx) => tx.protocol === "2pc" && !committed(tx)],
    [
      `since=${iso(BASE + 100_000)}&until=${iso(BASE + 200_000)}&limit=9`,
      (tx) => tx.createdAt >= BASE + 100_000 && tx.createdAt < BASE + 200_000,
    ],
    [
      `participant=bank-1&since=${iso(BASE + 50_000)}&limit=11`,
      (tx) => at("bank-1")(tx) && tx.createdAt >= BASE + 50_000,
    ],
  ])("%s: every match exactly once, newest first, by Query and BatchGetItem only", async (query, match) => {
    counter.reset();
    const views = await walk(query);
    const ids = views.map((v) => v.id);
    const expected = all
      .filter(match)
      .sort((a, b) => b.createdAt - a.createdAt)
      .map((tx) => tx.id);
    expect(expected.length).toBeGreaterThan(5);
    expect(ids).toEqual(expected);
    const calls = counter.snapshot();
    expect(Object.keys(calls).filter((k) => k.startsWith("dynamodb:"))).toEqual(
      expect.arrayContaining(["dynamodb:Query"]),
    );
    expect(calls["dynamodb:Scan"]).toBeUndefined();
    expect(Object.keys(calls).every((k) => k === "dynamodb:Query" || k === "dynamodb:BatchGetItem")).toBe(
      true,
    );
  });

  it("pages stay stable while transactions arrive: none repeats, none is skipped, the new ones are not mixed in", async () => {
    let n = COUNT;
    const views = await walk("participant=bank-9&limit=20", async () => {
      // Newer than everything listed: they belong before the first page, never inside the walk.
      const fresh = [record(n, Date.now()), record(n + 1, Date.now())];
      n += 2;
      await Promise.all(fresh.map((tx) => store.create(tx)));
    });
    const ids = views.map((v) => v.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual(all.map((tx) => tx.id).reverse());
  });

  it("a create writes the record and one small index item per participant beyond its first two", async () => {
    counter.reset();
    await store.create(record(9_000));
    // bank-1, bank-9, loyalty: the record indexes the first two, an item the third.
    expect(counter.snapshot()["dynamodb:PutItem"]).toBe(2);
    const items = await stack.scan(TX_PARTICIPANTS_TABLE);
    expect(items.filter((item) => String(item.key).startsWith("lst-9000/")).map((item) => item.key)).toEqual([
      "lst-9000/loyalty",
    ]);
  });

  it("a 2-party begin writes its record alone: one PutItem, no transaction-participants item", async () => {
    const id = "lst-two-party";
    await stack.client.putAccount("bank-1", `${id}-a`, 100);
    await stack.client.putAccount("bank-2", `${id}-b`, 0);
    const started = Date.now();
    counter.reset();
    await stack.client.begin({
      id,
      protocol: "2pc",
      timeoutMs: 60_000,
      branches: [
        { participant: "bank-2", action: "deposit", input: { account: `${id}-b`, amount: 1 } },
        { participant: "bank-1", action: "withdraw", input: { account: `${id}-a`, amount: 1 } },
      ],
    });
    expect(counter.snapshot()["dynamodb:PutItem"]).toBe(1);
    const items = await stack.scan(TX_PARTICIPANTS_TABLE);
    expect(items.filter((item) => String(item.key).startsWith(`${id}/`))).toEqual([]);
    // Listed under each of its participants, by the record's own indexes.
    for (const participant of ["bank-1", "bank-2"]) {
      const views = await walk(
        `participant=${participant}&since=${iso(started)}&until=${iso(Date.now() + 1)}`,
      );
      expect(views.map((v) => v.id)).toEqual([id]);
    }
  });

  it.each([
    "protocol=3pc",
    "participant=a/b",
    "participant=",
    "since=yesterday",
    "since=2026-03-01",
    "until=1700000000000",
    `since=${iso(BASE + 2)}&until=${iso(BASE + 1)}`,
    "since=x&since=y",
  ])("400 for %s", async (query) => {
    const res = await stack.request("GET", `/v1/transactions?${query}`);
    expect(res.status).toBe(400);
  });

  it("400 for a cursor made by a listing with other filters", async () => {
    const first = await stack.client.page({ participant: "bank-1", limit: 2 });
    expect(first.nextCursor).toEqual(expect.any(String));
    const res = await stack.request(
      "GET",
      `/v1/transactions?participant=bank-2&limit=2&cursor=${encodeURIComponent(first.nextCursor ?? "")}`,
    );
    expect(res.status).toBe(400);
  });
});

describe("records written before the record indexed its own participants", () => {
  /** A 2PC record at `participants`, created at `at`. */
  function twoPc(id: string, participants: string[], at: number): TxRecord {
    const branches = participants.map((participant) => ({ participant, action: "deposit", input: {} }));
    return beginTwoPc({ id, branches, timeoutMs: 3_600_000, requestHash: "h" }, at, policyOf(stack.config))
      .next;
  }

  /** As the code before wrote it: the record without participant1/2Shard, an item for every participant. */
  async function putOldFormat(tx: TxRecord) {
    const { topology, timing } = stack.config;
    const shard = shardOf(tx.id, topology.dueShards);
    const doc = stack.runtime.clients.doc;
    const {
      participant1Shard: _1,
      participant2Shard: _2,
      ...item
    } = toItem(tx, "old", topology.dueShards, timing.retentionSeconds);
    await doc.send(new PutCommand({ TableName: physicalName(topology, "transactions"), Item: item }));
    for (const participant of new Set(tx.branches.map((b) => b.participant))) {
      await doc.send(
        new PutCommand({
          TableName: physicalName(topology, TX_PARTICIPANTS_TABLE),
          Item: {
            key: participantItemKey(tx.id, participant),
            participantShard: participantShardOf(participant, shard),
            createdAt: tx.createdAt,
            expiresAt: Math.ceil(tx.deadline / 1000) + timing.retentionSeconds,
          },
        }),
      );
    }
  }

  it("are listed exactly once, beside new ones, even rewritten whole since", async () => {
    const t = BASE + 500;
    const old2 = twoPc("lst-old-2", ["old-a", "old-b"], t);
    const old3 = twoPc("lst-old-3", ["old-c", "old-b", "old-a"], t + 1_000);
    const rewritten = twoPc("lst-old-rewritten", ["old-b", "old-a"], t + 2_000);
    const fresh2 = twoPc("lst-new-2", ["old-a", "old-b"], t + 3_000);
    const fresh3 = twoPc("lst-new-3", ["old-b", "old-c", "old-a"], t + 4_000);
    await Promise.all([old2, old3, rewritten].map(putOldFormat));
    await Promise.all([fresh2, fresh3].map((tx) => store.create(tx)));
    // An old record written whole again in the new format carries its own index keys:
    // its items for old-a and old-b now repeat them.
    const { topology, timing } = stack.config;
    await stack.runtime.clients.doc.send(
      new PutCommand({
        TableName: physicalName(topology, "transactions"),
        Item: toItem(
          { ...rewritten, attempts: 1, version: rewritten.version + 1 },
          "new",
          topology.dueShards,
          timing.retentionSeconds,
        ),
      }),
    );
    const expected = (participant: string) =>
      [fresh3, fresh2, rewritten, old3, old2]
        .filter((tx) => tx.branches.some((b) => b.participant === participant))
        .map((tx) => tx.id);
    for (const participant of ["old-a", "old-b", "old-c"]) {
      for (const limit of [1, 2, 50]) {
        const ids = (await walk(`participant=${participant}&limit=${limit}`)).map((v) => v.id);
        expect(ids, `${participant}, pages of ${limit}`).toEqual(expected(participant));
      }
    }
  });
});
