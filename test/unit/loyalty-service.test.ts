/**
 * The loyalty example service (examples/loyalty) keeps the HTTP participant
 * contract of docs/participants.md: every endpoint idempotent per transaction
 * (and branch), a rollback before its prepare blocks the prepare, a
 * compensation before its action blocks the action, and every rollback is
 * acknowledged with a 2xx.
 */
import { describe, expect, it } from "vitest";
import { loyaltyApp } from "../../examples/loyalty/service.ts";

const FUTURE = new Date(Date.now() + 60_000).toISOString();
const PAST = new Date(Date.now() - 1_000).toISOString();

function service() {
  const app = loyaltyApp();
  const call = async (endpoint: string, body: object) => {
    const res = await app.request(`/concord/${endpoint}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as { reason?: string } };
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
    startedAt: FUTURE,
  });
  const prepare = (txId: string, action: string, points: number, deadline = FUTURE) => ({
    txId,
    participant: "loyalty",
    branches: [{ branch: 0, action, input: { customer: "alice", points } }],
    deadline,
    startedAt: FUTURE,
  });
  return { call, points, step, prepare };
}

describe("the loyalty example service", () => {
  it("saga: an action applies once however often it comes; its compensation undoes it once", async () => {
    const s = service();
    for (let i = 0; i < 3; i++)
      expect((await s.call("action", s.step("t1", 1, "award", 10))).status).toBe(200);
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

  it("2PC: prepare holds, commit applies once; a repeated prepare gives the same vote", async () => {
    const s = service();
    expect((await s.call("prepare", s.prepare("p1", "award", 7))).status).toBe(200);
    expect((await s.call("prepare", s.prepare("p1", "award", 7))).status).toBe(200);
    expect(await s.points("alice")).toBe(0);
    // Held: another transaction on alice votes no, a saga step on her is asked again later.
    expect((await s.call("prepare", s.prepare("p2", "award", 1))).body).toEqual({ reason: "lock_conflict" });
    expect((await s.call("action", s.step("p3", 0, "award", 1))).status).toBe(503);
    for (let i = 0; i < 2; i++) expect((await s.call("commit", { txId: "p1" })).status).toBe(200);
    expect(await s.points("alice")).toBe(7);
  });

  it("2PC: a rollback is always a 2xx; before its prepare it makes the late prepare vote no", async () => {
    const s = service();
    expect((await s.call("rollback", { txId: "r1" })).status).toBe(200);
    expect((await s.call("rollback", { txId: "r1" })).status).toBe(200);
    expect(await s.call("prepare", s.prepare("r1", "award", 3))).toEqual({
      status: 409,
      body: { reason: "rolled_back" },
    });
    expect((await s.call("prepare", s.prepare("r2", "award", 3))).status).toBe(200);
    expect((await s.call("rollback", { txId: "r2" })).status).toBe(200);
    expect(await s.points("alice")).toBe(0);
    // The lock went with the rollback.
    expect((await s.call("prepare", s.prepare("r3", "award", 3))).status).toBe(200);
    // A commit of what was never prepared is refused (concord logs and retries it).
    expect((await s.call("commit", { txId: "nothing" })).status).toBe(409);
  });

  it("atomic stage: the compensation undoes what commit applied, waits while prepared, and blocks a late prepare", async () => {
    const s = service();
    expect((await s.call("prepare", s.prepare("a1", "award", 4))).status).toBe(200);
    const undo = { ...s.step("a1", 0, "revoke", 4), atomic: true };
    expect(await s.call("compensate", undo)).toEqual({ status: 503, body: { reason: "awaiting_decision" } });
    await s.call("commit", { txId: "a1" });
    expect((await s.call("compensate", undo)).status).toBe(200);
    expect((await s.call("compensate", undo)).status).toBe(200);
    expect(await s.points("alice")).toBe(0);
    const early = { ...s.step("a2", 0, "revoke", 4), atomic: true };
    expect((await s.call("compensate", early)).status).toBe(200);
    expect((await s.call("prepare", s.prepare("a2", "award", 4))).status).toBe(409);
  });
});
