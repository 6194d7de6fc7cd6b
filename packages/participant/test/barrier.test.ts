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
    "prepare of another incarnation of the id votes no id_reused",
    [p(), p({ startedAt: OTHER })],
    no("id_reused"),
    ["prepare"],
    { held: 5, applied: 0 },
  ],
  [
    "rollback of another incarnation releases nothing of this one",
    [p(), r({ startedAt: OTHER })],
    UNKNOWN,
    ["prepare"],
    { held: 5, applied: 0 },
  ],
  [
    "commit of another incarnation applies nothing",
    [p(), c({ startedAt: OTHER })],
    no("id_reused"),
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
    "an action of another incarnation fails id_reused",
    [a(), a({ startedAt: OTHER })],
    no("id_reused"),
    ["action"],
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

describe("the barrier", () => {
  it.each(cases)("%s", async (_name, deliveries, last, calls, ledger) => {
    const kit = rig();
    let reply: Reply | undefined;
    for (const [endpoint, body] of deliveries) reply = await kit.send(endpoint, body);
    expect(reply).toMatchObject(last);
    expect(kit.calls).toEqual(calls);
    expect(kit.ledger).toEqual(ledger);
  });

  it("answers a refusal's body as the dispatcher reads it: `reason`, and `branch` when the rule named one", async () => {
    const kit = rig();
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

describe("concurrent and interrupted deliveries", () => {
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
