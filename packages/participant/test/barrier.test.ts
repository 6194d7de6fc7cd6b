/**
 * Every barrier case over HTTP (app.request): duplicates, rollback before
 * prepare, compensation before action, atomic stages, incarnations, deadlines,
 * and the answers concord's dispatcher reads (docs/participants.md).
 */
import { describe, expect, it } from "vitest";
import type { Endpoint } from "../src/request.ts";
import { bodies, type Reply, rig, T0 } from "./rig.ts";

type Delivery = readonly [Endpoint, unknown];
const OTHER = new Date(T0 + 5_000).toISOString();
const PAST = new Date(T0 - 1).toISOString();

const p = (o?: Parameters<typeof bodies.prepare>[0]): Delivery => ["prepare", bodies.prepare(o)];
const c = (o?: Parameters<typeof bodies.commit>[0]): Delivery => ["commit", bodies.commit(o)];
const r = (o?: Parameters<typeof bodies.rollback>[0]): Delivery => ["rollback", bodies.rollback(o)];
const a = (o?: Parameters<typeof bodies.action>[0]): Delivery => ["action", bodies.action(o)];
const x = (o?: Parameters<typeof bodies.compensate>[0]): Delivery => ["compensate", bodies.compensate(o)];

const YES = { status: 200, body: { vote: "yes" } };
const ACK = { status: 200, body: { acknowledged: true } };
const DONE = { status: 200, body: { outcome: "done" } };
const COMPENSATED = { status: 200, body: { outcome: "compensated" } };
const UNKNOWN = { status: 404, body: { error: { code: "unknown_transaction" } } };
const no = (reason: string, branch?: number) => ({
  status: 409,
  body: { reason, ...(branch !== undefined ? { branch } : {}) },
});

const cases: [string, Delivery[], Reply, string[], { held: number; applied: number }][] = [
  ["prepare votes yes and holds", [p()], YES, ["prepare"], { held: 5, applied: 0 }],
  [
    "a duplicate prepare answers yes again, the rule runs once",
    [p(), p()],
    YES,
    ["prepare"],
    { held: 5, applied: 0 },
  ],
  [
    "a refusing prepare votes no with the reason and the branch",
    [p({ action: "redeem" })],
    no("not_enough_points", 0),
    ["prepare"],
    { held: 0, applied: 0 },
  ],
  [
    "a duplicate of a refused prepare gives the same no",
    [p({ action: "redeem" }), p({ action: "redeem" })],
    no("not_enough_points"),
    ["prepare"],
    { held: 0, applied: 0 },
  ],
  ["commit applies what prepare held", [p(), c()], ACK, ["prepare", "commit"], { held: 0, applied: 5 }],
  [
    "a duplicate commit acknowledges again, applied once",
    [p(), c(), c(), p()],
    YES,
    ["prepare", "commit"],
    { held: 0, applied: 5 },
  ],
  [
    "a decision without an incarnation (older dispatcher) is the barrier's own",
    [p(), c({ startedAt: null })],
    ACK,
    ["prepare", "commit"],
    { held: 0, applied: 5 },
  ],
  [
    "rollback releases what prepare held",
    [p(), r(), r()],
    ACK,
    ["prepare", "rollback"],
    { held: 0, applied: 0 },
  ],
  ["rollback of an unknown transaction: the explicit 404", [r()], UNKNOWN, [], { held: 0, applied: 0 }],
  [
    "rollback before prepare: the late prepare votes no and holds nothing",
    [r(), p()],
    no("rolled_back"),
    [],
    { held: 0, applied: 0 },
  ],
  [
    "a duplicate of a rollback-first answers the same 404",
    [r(), p(), r()],
    UNKNOWN,
    [],
    { held: 0, applied: 0 },
  ],
  [
    "rollback after a no: acknowledged, nothing to release",
    [p({ action: "redeem" }), r()],
    ACK,
    ["prepare"],
    { held: 0, applied: 0 },
  ],
  [
    "commit of what was never prepared: 409 (the dispatcher retries and alerts)",
    [c()],
    no("not_prepared"),
    [],
    { held: 0, applied: 0 },
  ],
  [
    "commit after rollback: refused, nothing applied",
    [r(), c()],
    no("rolled_back"),
    [],
    { held: 0, applied: 0 },
  ],
  [
    "prepare past its deadline votes no and runs nothing",
    [p({ deadline: PAST })],
    no("timeout"),
    [],
    { held: 0, applied: 0 },
  ],
  [
    "prepare for other branches of the same transaction votes no",
    [p(), p({ branches: [0, 2] })],
    no("branches_mismatch"),
    ["prepare"],
    { held: 5, applied: 0 },
  ],
  [
    "an id used again (another incarnation) prepares afresh, beside the old one's record",
    [p(), c(), p({ startedAt: OTHER }), c({ startedAt: OTHER })],
    ACK,
    ["prepare", "commit", "prepare", "commit"],
    { held: 0, applied: 10 },
  ],
  [
    "a decision without an incarnation goes to the newest incarnation held",
    [p(), c(), p({ startedAt: OTHER }), r({ startedAt: null })],
    ACK,
    ["prepare", "commit", "prepare", "rollback"],
    { held: 0, applied: 5 },
  ],
  [
    "a rollback without an incarnation, of nothing held: 404, and the late prepare votes no",
    [r({ startedAt: null }), p()],
    no("rolled_back"),
    [],
    { held: 0, applied: 0 },
  ],
  [
    "rollback of another incarnation releases nothing of this one",
    [p(), r({ startedAt: OTHER })],
    UNKNOWN,
    ["prepare"],
    { held: 5, applied: 0 },
  ],
  [
    "commit of an incarnation never prepared here applies nothing of another",
    [p(), c({ startedAt: OTHER })],
    no("not_prepared"),
    ["prepare"],
    { held: 5, applied: 0 },
  ],
  ["an action runs and answers done", [a()], DONE, ["action"], { held: 0, applied: 5 }],
  [
    "a duplicate action answers done again, applied once",
    [a(), a()],
    DONE,
    ["action"],
    { held: 0, applied: 5 },
  ],
  [
    "a failing action answers 409 with the reason, again on a duplicate",
    [a({ action: "redeem" }), a({ action: "redeem" })],
    no("not_enough_points"),
    ["action"],
    { held: 0, applied: 0 },
  ],
  [
    "an action past its deadline fails and never runs",
    [a({ deadline: PAST })],
    no("timeout"),
    [],
    { held: 0, applied: 0 },
  ],
  [
    "compensation undoes the action",
    [a(), x()],
    COMPENSATED,
    ["action", "compensate"],
    { held: 0, applied: 0 },
  ],
  [
    "a duplicate compensation is done again, undone once",
    [a(), x(), x(), a()],
    no("compensated"),
    ["action", "compensate"],
    { held: 0, applied: 0 },
  ],
  ["compensation before the action: done, nothing run", [x()], COMPENSATED, [], { held: 0, applied: 0 }],
  [
    "the late action after its compensation fails and never runs",
    [x(), a()],
    no("compensated"),
    [],
    { held: 0, applied: 0 },
  ],
  [
    "compensation of a failed action: done, nothing run",
    [a({ action: "redeem" }), x()],
    COMPENSATED,
    ["action"],
    { held: 0, applied: 0 },
  ],
  [
    "an id used again runs its action afresh",
    [a(), a({ startedAt: OTHER }), a({ startedAt: OTHER })],
    DONE,
    ["action", "action"],
    { held: 0, applied: 10 },
  ],
  [
    "a compensation for an incarnation that never ran here undoes nothing of another",
    [a(), x({ startedAt: OTHER })],
    COMPENSATED,
    ["action"],
    { held: 0, applied: 5 },
  ],
  [
    "a reused id's compensation records its own barrier beside the old one's: its late action never runs",
    [a(), x({ startedAt: OTHER }), a({ startedAt: OTHER }), x({ startedAt: OTHER }), a({ startedAt: OTHER })],
    no("compensated"),
    ["action"],
    { held: 0, applied: 5 },
  ],
  [
    "an atomic compensation for an incarnation never prepared here leaves the other's commit",
    [p(), c(), x({ atomic: true, startedAt: OTHER })],
    COMPENSATED,
    ["prepare", "commit"],
    { held: 0, applied: 5 },
  ],
  [
    "atomic compensation undoes what the stage's commit applied",
    [p(), c(), x({ atomic: true }), x({ atomic: true })],
    COMPENSATED,
    ["prepare", "commit", "compensate"],
    { held: 0, applied: 0 },
  ],
  [
    "atomic compensation before the stage's prepare blocks it",
    [x({ atomic: true }), p()],
    no("rolled_back"),
    [],
    { held: 0, applied: 0 },
  ],
  [
    "atomic compensation of a rolled-back stage: done, nothing run",
    [p(), r(), x({ atomic: true })],
    COMPENSATED,
    ["prepare", "rollback"],
    { held: 0, applied: 0 },
  ],
  [
    "atomic compensation while the stage is undecided: come back later",
    [p(), x({ atomic: true })],
    { status: 503, body: { error: { code: "awaiting_decision" } } },
    ["prepare"],
    { held: 5, applied: 0 },
  ],
];

describe.each(["own-io", "transactional"] as const)("the barrier (%s)", (mode) => {
  it.each(cases)("%s", async (_name, deliveries, last, calls, ledger) => {
    const kit = rig({ mode });
    let reply: Reply | undefined;
    for (const [endpoint, body] of deliveries) reply = await kit.send(endpoint, body);
    expect(reply).toMatchObject(last);
    expect(kit.calls).toEqual(calls);
    expect(kit.ledger).toEqual(ledger);
  });

  it("answers a refusal's body as the dispatcher reads it: `reason`, and `branch` when the rule named one", async () => {
    const kit = rig({ mode });
    const reply = await kit.send("prepare", bodies.prepare({ action: "redeem", branches: [3] }));
    expect(reply).toEqual({ status: 409, body: { reason: "not_enough_points", branch: 3 } });
  });

  it("refuses a malformed body with 400 and runs nothing", async () => {
    const kit = rig();
    for (const body of [
      "not json",
      "[]",
      { ...bodies.prepare(), branches: [] },
      { ...bodies.action(), deadline: "soon" },
    ]) {
      const endpoint = typeof body === "object" && "branch" in body ? "action" : "prepare";
      expect((await kit.send(endpoint, body)).status).toBe(400);
    }
    expect(kit.calls).toEqual([]);
  });
});

describe("concurrent and interrupted deliveries (own-io: claims under a lease)", () => {
  it("a second prepare while the first runs its rule answers 503, and the rule runs once", async () => {
    const kit = rig();
    const gate = kit.hold("prepare");
    const first = kit.send("prepare", bodies.prepare());
    await new Promise((resolve) => setTimeout(resolve, 10));
    const second = await kit.send("prepare", bodies.prepare());
    expect(second.status).toBe(503);
    expect(second.body.error.code).toBe("in_progress");
    gate.release();
    expect(await first).toMatchObject(YES);
    expect(await kit.send("prepare", bodies.prepare())).toMatchObject(YES);
    expect(kit.calls).toEqual(["prepare"]);
  });

  it("a rollback while the prepare's rule runs waits its turn (503), then releases what it held", async () => {
    const kit = rig();
    const gate = kit.hold("prepare");
    const prepare = kit.send("prepare", bodies.prepare());
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect((await kit.send("rollback", bodies.rollback())).status).toBe(503);
    gate.release();
    expect(await prepare).toMatchObject(YES);
    expect(await kit.send("rollback", bodies.rollback())).toMatchObject(ACK);
    expect(kit.ledger).toEqual({ held: 0, applied: 0 });
  });

  it("a rule that throws records nothing: 503, and the next delivery runs the step", async () => {
    const kit = rig();
    const gate = kit.hold("action");
    const first = kit.send("action", bodies.action());
    gate.release(true);
    expect((await first).status).toBe(503);
    expect(await kit.send("action", bodies.action())).toMatchObject(DONE);
    expect(kit.calls).toEqual(["action", "action"]);
  });

  it("a delivery that died in its rule is taken over once its lease ran out, and the old one cannot record", async () => {
    const kit = rig({ leaseMs: 1_000 });
    const gate = kit.hold("commit");
    await kit.send("prepare", bodies.prepare());
    const stuck = kit.send("commit", bodies.commit());
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect((await kit.send("commit", bodies.commit())).status).toBe(503);
    kit.advance(1_001);
    expect(await kit.send("commit", bodies.commit())).toMatchObject(ACK);
    gate.release();
    expect((await stuck).body.error.code).toBe("lease_lost");
    expect(kit.calls).toEqual(["prepare", "commit", "commit"]);
  });

  it("a rollback after a prepare that died in its rule releases whatever it held", async () => {
    const kit = rig({ leaseMs: 1_000 });
    kit.hold("prepare");
    void kit.send("prepare", bodies.prepare());
    await new Promise((resolve) => setTimeout(resolve, 10));
    kit.advance(1_001);
    expect(await kit.send("rollback", bodies.rollback())).toMatchObject(ACK);
    expect(await kit.send("prepare", bodies.prepare())).toMatchObject(no("rolled_back"));
    expect(kit.calls).toEqual(["prepare", "rollback"]);
  });
});

describe("concurrent and interrupted deliveries (transactional: writes with the barrier)", () => {
  const wait = () => new Promise((resolve) => setTimeout(resolve, 10));

  it("two copies of a prepare at once: both may run the rule, the reservation is written once", async () => {
    const kit = rig({ mode: "transactional" });
    const gate = kit.hold("prepare");
    const first = kit.send("prepare", bodies.prepare());
    await wait();
    expect(await kit.send("prepare", bodies.prepare())).toMatchObject(YES);
    gate.release();
    // Its write lost the race: it answers from what the other recorded.
    expect(await first).toMatchObject(YES);
    expect(kit.ledger).toEqual({ held: 5, applied: 0 });
  });

  it("a rollback while a prepare slower than any lease runs: the reservation is never written", async () => {
    const kit = rig({ mode: "transactional", leaseMs: 1_000 });
    const gate = kit.hold("prepare");
    const prepare = kit.send("prepare", bodies.prepare());
    await wait();
    kit.advance(60_000);
    expect(await kit.send("rollback", bodies.rollback())).toMatchObject(UNKNOWN);
    gate.release();
    expect(await prepare).toMatchObject(no("rolled_back"));
    expect(kit.ledger).toEqual({ held: 0, applied: 0 });
  });

  it.each([
    ["prepare", [p()], p(), YES, { held: 5, applied: 0 }],
    ["commit", [p(), c()], c(), ACK, { held: 0, applied: 5 }],
    ["rollback", [p(), r()], r(), ACK, { held: 0, applied: 0 }],
    ["action", [a()], a(), DONE, { held: 0, applied: 5 }],
    ["compensation", [a(), x()], x(), COMPENSATED, { held: 0, applied: 0 }],
  ] as [string, Delivery[], Delivery, Reply, { held: number; applied: number }][])(
    "a crash after the %s's write, before its answer: the re-sent message applies nothing twice",
    async (_name, deliveries, again, answer, ledger) => {
      let crashes = 0;
      const last = deliveries.length - 1;
      let writes = 0;
      // Dies after the write of the last delivery, once.
      const kit = rig({ mode: "transactional", crashAfterWrite: () => writes++ === last && crashes++ === 0 });
      const replies: Reply[] = [];
      for (const [endpoint, body] of deliveries) replies.push(await kit.send(endpoint, body));
      expect(replies.at(-1)?.status).toBe(500);
      expect(await kit.send(again[0], again[1])).toMatchObject(answer);
      expect(await kit.send(again[0], again[1])).toMatchObject(answer);
      expect(kit.ledger).toEqual(ledger);
    },
  );
});
