/**
 * Two sweepers at once (issue 3): each due transaction is claimed by exactly one
 * of them per due time. The claim is advance()'s conditional write: both load the
 * record, both decide to re-send, only the write at the version they read
 * succeeds, and only its writer sends. The other reloads, finds the transaction
 * no longer due and sends nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { physicalName } from "../../infra/topology.ts";
import { createDynamoDbTransactionStore } from "../../src/adapters/dynamodb-transaction-store.ts";
import { createSweeper } from "../../src/coordinator/sweeper.ts";
import type { TransactionView } from "../../src/core/view.ts";
import type { TransactionStore } from "../../src/ports/transaction-store.ts";
import { policyOf } from "../../src/wiring.ts";
import { silentLogger } from "../../testkit/logging.ts";
import { dropping, recording, type Sent } from "../helpers/buses.ts";
import { type Stack, startStack } from "../helpers/stack.ts";

let stack: Stack;
let store: TransactionStore;
beforeAll(async () => {
  // No sweeper of its own, and every decision lost: committed transactions stay due.
  stack = await startStack({
    roles: ["api", "coordinator", "participants"],
    // Both participants wait for a COMMIT: the last voter's commit is not written with the decision.
    env: { CONCORD_COMMIT_WITH_DECISION: "false", CONCORD_VOTE_WITH_PREPARE: "false" },
    wrapBus: (bus) => dropping(bus, (s) => s.message.type === "commit" || s.message.type === "rollback"),
  });
  const { topology, timing } = stack.config;
  store = createDynamoDbTransactionStore({
    doc: stack.runtime.clients.doc,
    tableName: physicalName(topology, topology.tables.transactions.name),
    shards: topology.dueShards,
    retentionSeconds: timing.retentionSeconds,
  });
});
afterAll(() => stack?.stop());

/**
 * Forces the worst interleaving: the first two loads of each record in a round
 * wait for each other, so both sweepers hold the same version before either
 * writes. Later loads (the loser's reload) pass straight through.
 */
function rendezvous(inner: TransactionStore) {
  let latches = new Map<string, { arrived: number; open: () => void; opened: Promise<void> }>();
  const stats = { met: 0, timedOut: 0 };
  const store: TransactionStore = {
    ...inner,
    async get(id) {
      const tx = await inner.get(id);
      let latch = latches.get(id);
      if (!latch) {
        let open = () => {};
        const opened = new Promise<void>((resolve) => {
          open = resolve;
        });
        latch = { arrived: 0, open, opened };
        latches.set(id, latch);
      }
      if (latch.arrived >= 2) return tx;
      latch.arrived++;
      if (latch.arrived === 2) {
        stats.met++;
        latch.open();
      } else {
        const timeout = new Promise<"timeout">((r) => setTimeout(() => r("timeout"), 2_000));
        if ((await Promise.race([latch.opened, timeout])) === "timeout") stats.timedOut++;
      }
      return tx;
    },
  };
  return {
    store,
    stats,
    nextRound() {
      latches = new Map();
      stats.met = 0;
      stats.timedOut = 0;
    },
  };
}

/** A store that writes whatever the version: what a claim-less sweeper would amount to. */
const lastWriterWins = (inner: TransactionStore): TransactionStore => ({
  ...inner,
  async update(_before, next) {
    for (;;) {
      const current = await inner.get(next.id);
      if (!current) return { saved: false, current };
      if ((await inner.update(current, { ...next, version: current.version + 1 })).saved)
        return { saved: true };
    }
  },
});

async function createCommitted(ids: readonly string[]) {
  await Promise.all(
    ids.map(async (id) => {
      await stack.seed("bank-1", `${id}-a`, 100);
      await stack.seed("bank-2", `${id}-b`, 0);
      const res = await stack.request("POST", "/v1/transactions?wait=10000", {
        id,
        protocol: "2pc",
        branches: [
          { participant: "bank-1", action: "withdraw", input: { account: `${id}-a`, amount: 10 } },
          { participant: "bank-2", action: "deposit", input: { account: `${id}-b`, amount: 10 } },
        ],
      });
      expect(res.status, await res.clone().text()).toBe(201);
      expect(await res.json()).toMatchObject({ phase: "committing" });
    }),
  );
}

/** Two sweepers over the same table, a shared clock, each with its own recording bus. */
function twoSweepers(shared: TransactionStore) {
  let now = Date.now();
  const buses = [recording(), recording()];
  const sweepers = buses.map((bus) =>
    createSweeper({
      store: shared,
      bus,
      clock: () => now,
      log: silentLogger(),
      policy: policyOf(stack.config),
    }),
  );
  return {
    /** Moves the clock past every due time (the backoff cap) and runs both sweepers at once. */
    async round(): Promise<Sent[]> {
      now += 10 * 60_000;
      for (const bus of buses) bus.sent.length = 0;
      await Promise.all(sweepers.map((s) => s.sweep()));
      return buses.flatMap((bus) => bus.sent);
    },
  };
}

/** (transaction, participant) → how many decisions it was sent. */
function decisionsSent(sent: readonly Sent[], ids: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const s of sent) {
    if (s.message.type !== "commit" || !ids.includes(s.message.txId)) continue;
    const key = `${s.message.txId} → ${s.to}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

const everyOnce = (ids: readonly string[], times: number) =>
  new Map(ids.flatMap((id) => ["bank-1", "bank-2"].map((p) => [`${id} → ${p}`, times] as const)));

describe("two sweepers over the same due transactions", () => {
  it("re-send each decision exactly once per due time, and attempts count each re-send once", async () => {
    const ids = Array.from({ length: 20 }, (_, i) => `sw-${i}`);
    await createCommitted(ids);
    const racing = rendezvous(store);
    const sweepers = twoSweepers(racing.store);

    const ROUNDS = 3;
    for (let round = 1; round <= ROUNDS; round++) {
      racing.nextRound();
      const sent = await sweepers.round();
      // Both sweepers held the same version of every record before either wrote.
      expect(racing.stats).toEqual({ met: ids.length, timedOut: 0 });
      expect(decisionsSent(sent, ids)).toEqual(everyOnce(ids, 1));
    }

    for (const id of ids) {
      const view = (await (await stack.request("GET", `/v1/transactions/${id}`)).json()) as TransactionView;
      expect(view).toMatchObject({ phase: "committing", attempts: ROUNDS });
      const resent = view.events.filter((e) => e.type === "decision_resent").map((e) => e.attempt);
      expect(resent).toEqual([1, 2, 3]);
    }
  });

  it("control: without the conditional write the same race sends every decision twice", async () => {
    const ids = Array.from({ length: 5 }, (_, i) => `lww-${i}`);
    await createCommitted(ids);
    const racing = rendezvous(lastWriterWins(store));
    const sent = await twoSweepers(racing.store).round();
    expect(decisionsSent(sent, ids)).toEqual(everyOnce(ids, 2));
  });
});
