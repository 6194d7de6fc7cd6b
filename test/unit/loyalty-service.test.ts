/**
 * The loyalty example service (examples/loyalty), built on the participant
 * kit, keeps the HTTP participant contract of docs/participants.md: every
 * endpoint idempotent per transaction (and branch), a rollback before its
 * prepare blocks the prepare, a compensation before its action blocks the
 * action, a revoke's points reserved at prepare and given back on rollback —
 * and a crash after its write, before its answer, applies nothing twice.
 */
import { describe, expect, it } from "vitest";
import { loyaltyApp } from "../../examples/loyalty/service.ts";
import { createMemoryBarrierStore } from "../../packages/participant/src/memory-store.ts";
import type { BarrierStore } from "../../packages/participant/src/store.ts";

const FUTURE = new Date(Date.now() + 60_000).toISOString();
const PAST = new Date(Date.now() - 1_000).toISOString();
const STARTED = new Date(Date.now() - 1_000).toISOString();

function service(store: BarrierStore = createMemoryBarrierStore()) {
  const app = loyaltyApp({ store });
  const call = async (endpoint: string, body: object) => {
    const res = await app.request(`/concord/${endpoint}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: res.status === 500 ? text : JSON.parse(text) };
  };
  const points = async (customer: string) =>
    ((await (await app.request(`/customers/${customer}`)).json()) as { points: number }).points;
  const step = (txId: string, branch: number, action: string, points: number, deadline = FUTURE) => ({
    txId,
    participant: "loyalty",
    branch,
    action,
    input: { customer: "alice", points },
    deadline,
    startedAt: STARTED,
  });
  const prepare = (txId: string, action: string, points: number, deadline = FUTURE) => ({
    txId,
    participant: "loyalty",
    branches: [{ branch: 0, action, input: { customer: "alice", points } }],
    deadline,
    startedAt: STARTED,
  });
  const decision = (txId: string) => ({ txId, participant: "loyalty", startedAt: STARTED });
  return { call, points, step, prepare, decision };
}

describe("the loyalty example service", () => {
  it("saga: an action applies once however often it comes; its compensation undoes it once", async () => {
    const s = service();
    for (let i = 0; i < 3; i++)
      expect(await s.call("action", s.step("t1", 1, "award", 10))).toEqual({
        status: 200,
        body: { outcome: "done" },
      });
    expect(await s.points("alice")).toBe(10);
    for (let i = 0; i < 3; i++)
      expect((await s.call("compensate", s.step("t1", 1, "revoke", 10))).status).toBe(200);
    expect(await s.points("alice")).toBe(0);
  });

  it("saga: a compensation before its action is a no-op that makes the late action fail", async () => {
    const s = service();
    expect((await s.call("compensate", s.step("t2", 0, "revoke", 10))).status).toBe(200);
    expect(await s.call("action", s.step("t2", 0, "award", 10))).toEqual({
      status: 409,
      body: { reason: "compensated" },
    });
    expect(await s.points("alice")).toBe(0);
  });

  it("saga: a business failure is a 409 with its reason, the same on a repeat; compensating it changes nothing", async () => {
    const s = service();
    const refused = { status: 409, body: { reason: "not_enough_points" } };
    expect(await s.call("action", s.step("t3", 0, "revoke", 5))).toEqual(refused);
    expect(await s.call("action", s.step("t3", 0, "revoke", 5))).toEqual(refused);
    expect((await s.call("compensate", s.step("t3", 0, "award", 5))).status).toBe(200);
    expect(await s.points("alice")).toBe(0);
    expect((await s.call("action", s.step("t4", 0, "award", 1, PAST))).body).toEqual({ reason: "timeout" });
  });

  it("2PC: an award applies on commit, once; a repeated prepare gives the same vote", async () => {
    const s = service();
    expect(await s.call("prepare", s.prepare("p1", "award", 7))).toEqual({
      status: 200,
      body: { vote: "yes" },
    });
    expect((await s.call("prepare", s.prepare("p1", "award", 7))).status).toBe(200);
    expect(await s.points("alice")).toBe(0);
    for (let i = 0; i < 2; i++) expect((await s.call("commit", s.decision("p1"))).status).toBe(200);
    expect(await s.points("alice")).toBe(7);
  });

  it("2PC: a revoke reserves its points at prepare, so two cannot spend them; rollback gives them back", async () => {
    const s = service();
    await s.call("action", s.step("seed", 0, "award", 5));
    expect((await s.call("prepare", s.prepare("q1", "revoke", 5))).status).toBe(200);
    expect(await s.points("alice")).toBe(0);
    expect(await s.call("prepare", s.prepare("q2", "revoke", 5))).toEqual({
      status: 409,
      body: { reason: "not_enough_points", branch: 0 },
    });
    expect((await s.call("rollback", s.decision("q1"))).status).toBe(200);
    expect((await s.call("rollback", s.decision("q1"))).status).toBe(200);
    expect(await s.points("alice")).toBe(5);
  });

  it("2PC: a rollback before its prepare is acknowledged and makes the late prepare vote no", async () => {
    const s = service();
    expect(await s.call("rollback", s.decision("r1"))).toMatchObject({
      status: 404,
      body: { error: { code: "unknown_transaction" } },
    });
    expect(await s.call("prepare", s.prepare("r1", "award", 3))).toEqual({
      status: 409,
      body: { reason: "rolled_back" },
    });
    // A commit of what was never prepared is refused (concord logs and retries it).
    expect((await s.call("commit", s.decision("nothing"))).status).toBe(409);
    expect(await s.points("alice")).toBe(0);
  });

  it("atomic stage: the compensation undoes what commit applied, waits while prepared, and blocks a late prepare", async () => {
    const s = service();
    expect((await s.call("prepare", s.prepare("a1", "award", 4))).status).toBe(200);
    const undo = { ...s.step("a1", 0, "revoke", 4), atomic: true };
    expect((await s.call("compensate", undo)).status).toBe(503);
    await s.call("commit", s.decision("a1"));
    expect(await s.points("alice")).toBe(4);
    expect((await s.call("compensate", undo)).status).toBe(200);
    expect((await s.call("compensate", undo)).status).toBe(200);
    expect(await s.points("alice")).toBe(0);
    const early = { ...s.step("a2", 0, "revoke", 4), atomic: true };
    expect((await s.call("compensate", early)).status).toBe(200);
    expect((await s.call("prepare", s.prepare("a2", "award", 4))).status).toBe(409);
  });

  it("a crash after the award's write, before its answer: the re-sent action answers done and awards once", async () => {
    const memory = createMemoryBarrierStore();
    let crash = true;
    const dying: BarrierStore = {
      get: (k, i) => memory.get(k, i),
      newest: (k) => memory.newest(k),
      readItem: (k) => memory.readItem(k),
      async put(record, expected, writes) {
        const result = await memory.put(record, expected, writes);
        if (result.written && record.state === "done" && crash) {
          crash = false;
          throw new Error("the process died here");
        }
        return result;
      },
    };
    const s = service(dying);
    expect((await s.call("action", s.step("c1", 0, "award", 10))).status).toBe(500);
    expect(await s.points("alice")).toBe(10);
    expect(await s.call("action", s.step("c1", 0, "award", 10))).toEqual({
      status: 200,
      body: { outcome: "done" },
    });
    expect(await s.points("alice")).toBe(10);
  });
});
