/**
 * A hot account: bursts of transfers out of one account, no client retries, and
 * their PREPAREs reaching the hot account's server in an order unrelated to
 * their age (as a standard SQS queue delivers). Under no-wait every transfer
 * that meets the lock dies; under wait-die an older one waits its turn.
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

async function run(policy: string): Promise<number> {
  const stack = await startStack({
    env: { CONCORD_LOCK_POLICY: policy, CONCORD_LOCK_WAIT_BUDGET_MS: "1000" },
    wrapBus: reordering,
  });
  try {
    await stack.seed("bank-1", "hot", 1_000_000);
    for (let i = 0; i < CLIENTS; i++) await stack.seed("bank-2", `cold-${i}`, 0);
    let committed = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const outcomes = await Promise.all(
        Array.from({ length: CLIENTS }, async (_, i) => {
          const res = await stack.request("POST", "/v1/transfers?wait=25000", [
            { server_id: "bank-1", account_id: "hot", operation: "withdraw", amount: 1 },
            { server_id: "bank-2", account_id: `cold-${i}`, operation: "deposit", amount: 1 },
          ]);
          return ((await res.json()) as { status: string }).status;
        }),
      );
      expect(outcomes.filter((o) => o === "pending")).toEqual([]);
      committed += outcomes.filter((o) => o === "committed").length;
      for (const t of await stack.scan("transactions")) await stack.settle(String(t.id), 30_000);
    }
    expect(await bankState(stack)).toMatchObject({ total: 1_000_000, locked: [], prepared: [] });
    return committed;
  } finally {
    await stack.stop();
  }
}

describe("a hot account", () => {
  it("commits clearly more under wait-die than under no-wait", async () => {
    const noWait = await run("no-wait");
    const waitDie = await run("wait-die");
    const n = CLIENTS * ROUNDS;
    console.log(
      `hot account, ${n} transfers in bursts of ${CLIENTS}: wait-die committed ${waitDie}/${n} (${((100 * waitDie) / n).toFixed(0)}%), ` +
        `no-wait ${noWait}/${n} (${((100 * noWait) / n).toFixed(0)}%)`,
    );
    expect(waitDie).toBeGreaterThan(noWait * 1.5);
  }, 120_000);
});
