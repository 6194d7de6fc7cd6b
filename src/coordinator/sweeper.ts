/**
 * The sweeper: finds transactions whose due time has passed in the sparse due
 * index and moves them on (re-send PREPARE, a saga's action or compensation,
 * abort at the deadline, re-send the decision with capped backoff). The conditional write in `advance` is its claim:
 * of two sweepers that find the same transaction, one writes and sends, the other
 * reloads and finds it no longer due.
 */
import { stalled } from "../core/saga.ts";
import type { Policy } from "../core/step.ts";
import type { TxRecord } from "../core/transaction.ts";
import { onSweep } from "../core/transitions.ts";
import { deadlocks } from "../core/wait-for-graph.ts";
import { continueTrace, withScope } from "../trace-context.ts";
import { advance, type CoordinatorDeps } from "./advance.ts";
import { breakCycle } from "./deadlock.ts";

export interface SweepReport {
  readonly examined: number;
  readonly advanced: number;
  readonly failed: number;
  /** Transactions restarted or aborted to break a deadlock. */
  readonly deadlocks: number;
}

export interface SweeperOptions {
  readonly policy: Policy;
  /** Due transactions taken from each shard per run. */
  readonly batchPerShard?: number;
  /** Transactions advanced at once. */
  readonly concurrency?: number;
}

export function createSweeper(deps: CoordinatorDeps & SweeperOptions) {
  const { store, clock, log, policy } = deps;
  const batch = deps.batchPerShard ?? 100;
  const concurrency = deps.concurrency ?? 8;

  /** Alerts on what has been re-sent `stalledAfterAttempts` times and more, unanswered. */
  function warnIfStalled(tx: TxRecord): void {
    if (tx.protocol === "2pc") {
      if (tx.attempts >= policy.stalledAfterAttempts && tx.state !== "preparing") {
        deps.metrics?.count("concord_decision_stalls_total", {});
        log.warn("decision not yet acknowledged", {
          txId: tx.id,
          state: tx.state,
          attempts: tx.attempts,
          waitingFor: tx.participants.filter((p) => !p.acked).map((p) => p.name),
          metric: "DecisionStalled",
        });
      }
      return;
    }
    const { compensations, decisions } = stalled(tx, policy);
    if (decisions.length > 0) {
      deps.metrics?.count("concord_decision_stalls_total", {});
      log.warn("decision not yet acknowledged", {
        txId: tx.id,
        state: tx.state,
        attempts: tx.attempts,
        waitingFor: decisions,
        metric: "DecisionStalled",
      });
    }
    if (compensations.length > 0) {
      deps.metrics?.count("concord_compensation_stalls_total", {});
      log.warn("compensation not yet done", {
        txId: tx.id,
        state: tx.state,
        attempts: tx.attempts,
        branches: compensations,
        participants: [...new Set(compensations.map((b) => tx.branches[b]?.participant))],
        metric: "CompensationStalled",
      });
    }
  }

  /**
   * The sweeper's work on one transaction: every line it logs names the
   * transaction, and from the record on, what it logs and sends continues the
   * trace the transaction was begun in.
   */
  const aboutTx = <T>(id: string, work: () => Promise<T>): Promise<T> =>
    withScope(undefined, { txId: id }, work);

  async function sweepOne(id: string): Promise<boolean> {
    let moved = false;
    const tx = await advance(
      deps,
      id,
      (tx, now) => {
        continueTrace(tx.traceparent);
        const step = onSweep(tx, now, policy);
        moved = step.changed;
        return step;
      },
      { afterWrite: "after-claim-before-send" },
    );
    if (tx && moved) warnIfStalled(tx);
    return moved;
  }

  /**
   * The safety net of deadlock detection (the coordinator breaks a cycle when
   * the wait that closes it is reported): builds the wait-for graph from every
   * waiting transaction (any participant) and breaks each cycle at its youngest
   * transaction (a saga waits in its open atomic stage, and its abort
   * compensates). Only the detect policy records waits that can close a cycle;
   * under wait-die the graph has none and this finds nothing.
   */
  async function breakDeadlocks(): Promise<number> {
    const shards = Array.from({ length: store.shards }, (_, i) => i);
    const waiting = (await Promise.all(shards.map((s) => store.waiting(s)))).flat();
    if (waiting.length === 0) return 0;
    const found = deadlocks(
      waiting.map((w) => ({ id: w.id, startedAt: w.createdAt, waitsFor: Object.values(w.waits) })),
    );
    let broken = 0;
    for (const cycle of found) if (await aboutTx(cycle.victim, () => breakCycle(deps, cycle))) broken++;
    return broken;
  }

  return {
    async sweep(): Promise<SweepReport> {
      const now = clock();
      const shards = Array.from({ length: store.shards }, (_, i) => i);
      const ids = (await Promise.all(shards.map((s) => store.due(s, now, batch)))).flat();
      let advanced = 0;
      let failed = 0;
      for (let i = 0; i < ids.length; i += concurrency) {
        const results = await Promise.allSettled(
          ids.slice(i, i + concurrency).map((id) => aboutTx(id, () => sweepOne(id))),
        );
        for (const [j, r] of results.entries()) {
          if (r.status === "fulfilled") advanced += r.value ? 1 : 0;
          else {
            failed++;
            log.error("sweep of a transaction failed; next run tries again", {
              txId: ids[i + j],
              error: String(r.reason),
            });
          }
        }
      }
      const deadlocks = await breakDeadlocks();
      if (advanced > 0 || failed > 0)
        log.info("sweep", { examined: ids.length, advanced, failed, deadlocks });
      return { examined: ids.length, advanced, failed, deadlocks };
    },
  };
}
