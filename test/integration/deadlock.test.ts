/**
 * A constructed deadlock under each lock policy: T1 holds A on bank-1 and wants
 * B on bank-2; T2 holds B and wants A. Every policy must end with both final,
 * at least one committed, and no lock left; under wait-die and detect the
 * transaction that loses is restarted and commits too.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { MessageBus } from "../../src/ports/message-bus.ts";
import { holding } from "../helpers/buses.ts";
import { bankState } from "../helpers/invariants.ts";
import { eventually, type Stack, startStack } from "../helpers/stack.ts";

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});

// Each transaction's second PREPARE (the one that would meet the other's lock) is held back,
// its first copy only: a copy sent again (a wake-up, a re-send, a restarted attempt) goes through.
const isSecondStep = (to: string, m: { type: string; attempt?: number; branches?: { action: string }[] }) =>
  m.type === "prepare" &&
  m.attempt === undefined &&
  m.branches?.[0]?.action === "deposit" &&
  (to === "bank-1" || to === "bank-2");

async function deadlock(
  policy: string,
  releaseInOrder: (s: Stack, ids: [string, string], next: () => Promise<void>) => Promise<void>,
  sweepIntervalMs?: number,
) {
  let gate: ReturnType<typeof holding> | undefined;
  // Copies a waiting PREPARE puts back on its own queue (it used to, every second).
  let requeued = 0;
  stack = await startStack({
    // Deadlocks need locks: transfers that only add and take reserve instead.
    env: { CONCORD_LOCK_MODE: "exclusive", CONCORD_LOCK_POLICY: policy, CONCORD_LOCK_WAIT_BUDGET_MS: "500" },
    wrapBus: (bus: MessageBus) => {
      const heldFor = new Set<string>();
      gate = holding(bus, (s) => {
        const m = s.message as { txId: string; waits?: number };
        if (m.waits !== undefined) requeued++;
        if (s.to === "coordinator" || !isSecondStep(s.to, s.message as never) || heldFor.has(m.txId))
          return false;
        heldFor.add(m.txId);
        return true;
      });
      return gate.bus;
    },
    ...(sweepIntervalMs !== undefined ? { sweepIntervalMs } : {}),
  });
  const s = stack;
  await s.seed("bank-1", "A", 100);
  await s.seed("bank-2", "B", 100);
  const post = (ops: unknown[]) =>
    s.request("POST", "/v1/transfers", ops).then(async (r) => ((await r.json()) as { id: string }).id);
  const t1 = await post([
    { server_id: "bank-1", account_id: "A", operation: "withdraw", amount: 10 },
    { server_id: "bank-2", account_id: "B", operation: "deposit", amount: 10 },
  ]);
  await new Promise((r) => setTimeout(r, 5)); // T1 is strictly older
  const t2 = await post([
    { server_id: "bank-2", account_id: "B", operation: "withdraw", amount: 20 },
    { server_id: "bank-1", account_id: "A", operation: "deposit", amount: 20 },
  ]);
  // Both first steps lock: T1 holds A, T2 holds B.
  await eventually(async () => {
    const [a, b] = await Promise.all([s.account("bank-1", "A"), s.account("bank-2", "B")]);
    return a.lockedBy === t1 && b.lockedBy === t2 ? true : undefined;
  });
  expect(gate?.held()).toBe(2);
  await releaseInOrder(s, [t1, t2], () => (gate as ReturnType<typeof holding>).releaseNext());
  const [v1, v2] = await Promise.all([s.settle(t1, 30_000), s.settle(t2, 30_000)]);
  expect(await bankState(s)).toMatchObject({ total: 200, locked: [], held: [], prepared: [], negative: [] });
  return { v1, v2, requeued };
}

describe("a constructed deadlock", () => {
  it("wait-die: the older waits, the younger dies and is restarted with its age, both commit", async () => {
    const { v1, v2, requeued } = await deadlock("wait-die", async (_s, _ids, next) => {
      await next();
      await next();
    });
    // The older waited registered on the lock and was woken by its release, never re-queued.
    expect(v1.events.map((e) => e.type)).toContain("waiting");
    expect(requeued).toBe(0);
    expect(v1).toMatchObject({ status: "committed" });
    expect(v2).toMatchObject({ status: "committed" });
    expect(v2.events).toContainEqual(expect.objectContaining({ type: "restarted", reason: "lock_conflict" }));
  }, 90_000);

  // The sweep runs once a minute here: the cycle is broken when the wait that closes it is reported.
  it("detect: both wait, the report that closes the cycle restarts the youngest, both commit", async () => {
    const started = Date.now();
    const { v1, v2 } = await deadlock(
      "detect",
      async (_s, _ids, next) => {
        await next();
        await next();
      },
      60_000,
    );
    expect(v1).toMatchObject({ status: "committed" });
    expect(v2).toMatchObject({ status: "committed" });
    expect(v2.events.map((e) => e.type)).toContain("waiting");
    expect(v2.events).toContainEqual(expect.objectContaining({ type: "restarted", reason: "deadlock" }));
    // Well before the first sweep could have found the cycle.
    expect(Date.now() - started).toBeLessThan(55_000);
  }, 90_000);

  it("no-wait: the first to meet a lock dies; the other then finds the lock free and commits", async () => {
    const { v1, v2 } = await deadlock("no-wait", async (s, [t1], next) => {
      await next();
      await s.settle(t1);
      await next();
    });
    expect(v1).toMatchObject({ status: "aborted", reason: "lock_conflict" });
    expect(v2).toMatchObject({ status: "committed" });
  });
});
