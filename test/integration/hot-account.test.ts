/**
 * A hot account: bursts of transfers out of one account, no client retries, and
 * their PREPAREs reaching the hot account's server in an order unrelated to
 * their age (as a standard SQS queue delivers). With reservations (the default)
 * they all prepare at once and commit, and with scarce funds exactly what the
 * account holds is taken, never more. With exclusive locks forced, under
 * no-wait every transfer that meets the lock dies; under wait-die an older one
 * waits its turn (woken when the lock is released) and a younger one is
 * restarted with its age, so every transfer commits.
 */
import { describe, expect, it } from "vitest";
import type { MessageBus } from "../../src/ports/message-bus.ts";
import { bankState } from "../helpers/invariants.ts";
import { startStack } from "../helpers/stack.ts";

const CLIENTS = 20;
const ROUNDS = 3;

/** A seeded generator: both policies see the same delivery order. */
function random(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

/** Delivers each first PREPARE to the hot server after a random 0-300 ms. */
function reordering(bus: MessageBus): MessageBus {
  const rand = random(7);
  return {
    toCoordinator: (m) => bus.toCoordinator(m),
    async toParticipant(p, m, o) {
      if (p === "bank-1" && m.type === "prepare" && !m.waits) {
        const delay = rand() * 300;
        setTimeout(() => void bus.toParticipant(p, m, o).catch(() => {}), delay);
        return;
      }
      await bus.toParticipant(p, m, o);
    },
  };
}

interface Run {
  readonly env: Record<string, string>;
  /** What the hot account holds at the start. */
  readonly funds?: number;
}

async function run({ env, funds = 1_000_000 }: Run): Promise<{
  committed: number;
  reasons: string[];
  hot: number;
  waited: number;
  waitedAndCommitted: number;
  restarted: number;
}> {
  const stack = await startStack({
    env,
    wrapBus: reordering,
  });
  try {
    await stack.seed("bank-1", "hot", funds);
    for (let i = 0; i < CLIENTS; i++) await stack.seed("bank-2", `cold-${i}`, 0);
    let committed = 0;
    let waited = 0;
    let waitedAndCommitted = 0;
    let restarted = 0;
    const reasons: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const outcomes = await Promise.all(
        Array.from({ length: CLIENTS }, async (_, i) => {
          const res = await stack.request("POST", "/v1/transfers?wait=25000", [
            { server_id: "bank-1", account_id: "hot", operation: "withdraw", amount: 1 },
            { server_id: "bank-2", account_id: `cold-${i}`, operation: "deposit", amount: 1 },
          ]);
          return (await res.json()) as { status: string; reason?: string; events: { type: string }[] };
        }),
      );
      expect(outcomes.filter((o) => o.status === "pending")).toEqual([]);
      committed += outcomes.filter((o) => o.status === "committed").length;
      const waiters = outcomes.filter((o) => o.events.some((e) => e.type === "waiting"));
      waited += waiters.length;
      waitedAndCommitted += waiters.filter((o) => o.status === "committed").length;
      restarted += outcomes.filter((o) => o.events.some((e) => e.type === "restarted")).length;
      for (const o of outcomes) if (o.reason !== undefined) reasons.push(o.reason);
      for (const t of await stack.scan("transactions")) await stack.settle(String(t.id), 30_000);
    }
    expect(await bankState(stack)).toMatchObject({
      total: funds,
      negative: [],
      locked: [],
      held: [],
      prepared: [],
    });
    return {
      committed,
      reasons,
      hot: (await stack.account("bank-1", "hot")).balance,
      waited,
      waitedAndCommitted,
      restarted,
    };
  } finally {
    await stack.stop();
  }
}

const N = CLIENTS * ROUNDS;
const share = (n: number) => `${n}/${N} (${((100 * n) / N).toFixed(0)}%)`;

describe("a hot account", () => {
  it("with reservations, transfers out of it all prepare at once and commit", async () => {
    const { committed, reasons } = await run({ env: { CONCORD_LOCK_POLICY: "no-wait" } });
    console.log(`hot account, reservations under no-wait: committed ${share(committed)}`);
    // Even no-wait, which dies at the first lock it meets, meets none.
    expect(reasons).toEqual([]);
    expect(committed).toBe(N);
  }, 120_000);

  it("with reservations and scarce funds, exactly what the account holds is taken, never more", async () => {
    const funds = Math.floor(N / 3);
    const { committed, reasons, hot } = await run({ env: {}, funds });
    console.log(`hot account holding ${funds}: committed ${share(committed)}`);
    expect(committed).toBe(funds);
    expect(hot).toBe(0);
    expect(new Set(reasons)).toEqual(new Set(["insufficient_funds"]));
  }, 120_000);

  it("with exclusive locks forced, no-wait dies at every lock it meets; under wait-die the older wait their turn, the younger are restarted, and all commit", async () => {
    const exclusive = { CONCORD_LOCK_MODE: "exclusive" };
    const noWait = await run({ env: { ...exclusive, CONCORD_LOCK_POLICY: "no-wait" } });
    const waitDie = await run({ env: { ...exclusive, CONCORD_LOCK_POLICY: "wait-die" } });
    console.log(
      `hot account, exclusive locks: wait-die committed ${share(waitDie.committed)} (${waitDie.waitedAndCommitted} after waiting, ${waitDie.restarted} restarted), no-wait ${share(noWait.committed)}`,
    );
    // How many commit depends on how the PREPAREs overlap, which the machine's load
    // changes (bench --hot measures it); what each policy does at a lock does not.
    expect(noWait.waited).toBe(0);
    expect(new Set(noWait.reasons)).toEqual(new Set(["lock_conflict"]));
    expect(waitDie.waitedAndCommitted).toBeGreaterThan(0);
    // Contention is never the client's abort while the deadline has time left.
    expect(waitDie.reasons).toEqual([]);
    expect(waitDie.committed).toBe(N);
    expect(waitDie.restarted).toBeGreaterThan(0);
  }, 180_000);
});
