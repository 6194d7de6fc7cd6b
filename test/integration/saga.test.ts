/**
 * Sagas over the whole local stack (API, coordinator, sweeper, bank participants
 * on the emulators). The bank participants vote on an atomic stage's PREPARE
 * as in 2PC, so a saga whose stages are atomic runs end to end here.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BeginRequest, TransactionView } from "../../packages/client/src/index.ts";
import { bankState } from "../helpers/invariants.ts";
import { eventually, type Stack, startStack } from "../helpers/stack.ts";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack?.stop());

const money = (account: string, amount: number) => ({ account, amount });

/** bank-1 pays `amount` from `from` to bank-2's `to`, as one atomic stage. */
function atomicTransfer(id: string, from: string, to: string, amount: number): BeginRequest {
  return {
    id,
    protocol: "saga",
    atomicStages: [0],
    branches: [
      {
        participant: "bank-1",
        action: "withdraw",
        input: money(from, amount),
        compensation: { action: "deposit", input: money(from, amount) },
        stage: 0,
      },
      {
        participant: "bank-2",
        action: "deposit",
        input: money(to, amount),
        compensation: { action: "withdraw", input: money(to, amount) },
        stage: 0,
      },
    ],
  };
}

const post = (body: BeginRequest) => stack.client.begin(body, { wait: 10_000 });

describe("sagas over HTTP", () => {
  it("an atomic stage commits as one 2PC group and the saga completes", async () => {
    await stack.seed("bank-1", "sa", 100);
    await stack.seed("bank-2", "sb", 0);
    const view = await post(atomicTransfer("saga-commit", "sa", "sb", 40));
    expect(view).toMatchObject({ id: "saga-commit", protocol: "saga", status: "committed" });
    const done = await stack.settle(view.id);
    expect(done).toMatchObject({ status: "committed", phase: "committed" });
    expect(done.completedAt).toBeDefined();
    expect(done.branches).toEqual([
      expect.objectContaining({
        participant: "bank-1",
        state: "committed",
        vote: "yes",
        stage: 0,
        atomic: true,
      }),
      expect.objectContaining({
        participant: "bank-2",
        state: "committed",
        vote: "yes",
        stage: 0,
        atomic: true,
      }),
    ]);
    expect(done.events.map((e) => e.type)).toEqual(
      expect.arrayContaining(["stage_started", "prepare_sent", "stage_decision", "decision", "completed"]),
    );
    expect(await stack.account("bank-1", "sa")).toMatchObject({ balance: 60 });
    expect(await stack.account("bank-2", "sb")).toMatchObject({ balance: 40 });
  });

  it("a no vote in the atomic stage rolls it back: the saga is aborted, phase compensated, nothing moved", async () => {
    await stack.seed("bank-1", "sc", 10);
    await stack.seed("bank-2", "sd", 0);
    const view = await post(atomicTransfer("saga-refused", "sc", "sd", 40));
    expect(view.status).toBe("aborted");
    const done = await stack.settle(view.id);
    expect(done).toMatchObject({ status: "aborted", phase: "compensated", reason: "insufficient_funds" });
    expect(done.branches[0]).toMatchObject({ state: "refused", reason: "insufficient_funds" });
    expect(await stack.account("bank-1", "sc")).toMatchObject({ balance: 10 });
    expect(await stack.account("bank-2", "sd")).toMatchObject({ balance: 0 });
    const state = await bankState(stack);
    expect(state.locked).toEqual([]);
    expect(state.prepared).toEqual([]);
    const listed = await stack.client.page({ status: "aborted" });
    expect(listed.transactions.map((t) => t.id)).toContain("saga-refused");
  });

  it("gives a finished saga's kept barriers (a done step, an atomic stage's commit) their expiry from its end", async () => {
    await stack.seed("bank-1", "sg", 100);
    await stack.seed("bank-2", "sh", 0);
    const body: BeginRequest = {
      id: "saga-lifetime",
      protocol: "saga",
      atomicStages: [1],
      branches: [
        {
          participant: "bank-1",
          action: "withdraw",
          input: money("sg", 10),
          compensation: { action: "deposit", input: money("sg", 10) },
          stage: 0,
        },
        {
          participant: "bank-2",
          action: "deposit",
          input: money("sh", 10),
          compensation: { action: "withdraw", input: money("sh", 10) },
          stage: 1,
        },
      ],
    };
    const done = await stack.settle((await post(body)).id);
    expect(done).toMatchObject({ status: "committed", phase: "committed" });
    const completedAt = Date.parse(done.completedAt ?? "");
    const retention = stack.config.timing.retentionSeconds;
    const mine = (items: Record<string, unknown>[]) => items.filter((i) => i.txId === "saga-lifetime");
    // The done step barrier at bank-1 and the atomic stage's committed barrier at bank-2
    // get their expiry from the saga's end (the finished message), not from their write.
    const kept = await eventually(
      async () => {
        const items = mine(await stack.scan("bank"));
        return items.length === 2 && items.every((i) => typeof i.expiresAt === "number") ? items : undefined;
      },
      10_000,
      "the saga's barriers to get their expiry",
    );
    expect(kept.map((i) => [i.kind, i.state]).sort()).toEqual([
      ["barrier", "committed"],
      ["step", "done"],
    ]);
    for (const item of kept) {
      expect(item.expiresAt).toBeGreaterThanOrEqual(Math.floor(completedAt / 1000) + retention);
    }
  });

  it("the same id with the same body is the same saga; with another body, 409", async () => {
    await stack.seed("bank-1", "se", 100);
    await stack.seed("bank-2", "sf", 0);
    const body = atomicTransfer("saga-again", "se", "sf", 5);
    const first = await post(body);
    const again = await stack.request("POST", "/v1/transactions", body);
    expect(again.headers.get("Idempotent-Replayed")).toBe("true");
    expect(((await again.json()) as TransactionView).id).toBe(first.id);
    const other = await stack.request("POST", "/v1/transactions", { ...body, atomicStages: [] });
    expect(other.status).toBe(409);
  });
});
