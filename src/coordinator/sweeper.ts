/**
 * The sweeper: finds transactions whose due time has passed in the sparse due
 * index and moves them on (re-send PREPARE, a saga's action or compensation,
 * abort at the deadline, re-send the decision with capped backoff). The conditional write in `advance` is its claim:
 * of two sweepers that find the same transaction, one writes and sends, the other
 * reloads and finds it no longer due.
 */
import { isReason } from "../core/reasons.ts";
import { stalled } from "../core/saga.ts";
import type { Policy } from "../core/step.ts";
import type { TxRecord } from "../core/transaction.ts";
import { onSweep, requestAbort } from "../core/transitions.ts";
import { cycleHolds, deadlocks, stillWaitsFor } from "../core/wait-for-graph.ts";
import { advance, type CoordinatorDeps } from "./advance.ts";

export interface SweepReport {
  readonly examined: number;
  readonly advanced: number;
  readonly failed: number;
  /** Transactions aborted to break a deadlock. */
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

  async function sweepOne(id: string): Promise<boolean> {
    let moved = false;
    const tx = await advance(
      deps,
      id,
      (tx, now) => {
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
   * Builds the wait-for graph from every waiting transaction (any participant)
   * and aborts the youngest of each cycle (a saga waits in its open atomic stage,
   * and its abort compensates). Only the detect policy records waits;
   * under wait-die the graph has no cycles and this finds nothing.
   *
   * A cycle is checked again on the records before its victim is aborted, and
   * the victim's own wait once more under its conditional write: an edge read
   * from the index may be stale (the lock it was about went with a decision,
   * or the victim got it and voted), and aborting on it would abort a
   * transaction that is in no deadlock.
   */
  async function breakDeadlocks(): Promise<number> {
    const shards = Array.from({ length: store.shards }, (_, i) => i);
    const waiting = (await Promise.all(shards.map((s) => store.waiting(s)))).flat();
    if (waiting.length === 0) return 0;
    const found = deadlocks(
      waiting.map((w) => ({ id: w.id, startedAt: w.createdAt, waitsFor: Object.values(w.waits) })),
    );
    let aborted = 0;
    for (const { victim: id, cycle } of found) {
      const records = await Promise.all(cycle.map((member) => store.get(member)));
      if (!cycleHolds(records)) {
        log.info("wait-for cycle no longer holds; nothing aborted", { txId: id, cycle });
        continue;
      }
      const next = records[(cycle.indexOf(id) + 1) % cycle.length] as TxRecord;
      const tx = await advance(deps, id, (tx, now) => {
        if (!stillWaitsFor(tx, next)) return { next: tx, effects: [], changed: false };
        const step = requestAbort(tx, "deadlock", now, policy);
        return "rejected" in step ? { next: tx, effects: [], changed: false } : step;
      });
      if (isReason(tx?.reason, "deadlock")) {
        aborted++;
        deps.metrics?.count("concord_deadlocks_total", {});
        log.warn("deadlock broken: aborted the youngest transaction of a cycle", {
          txId: id,
          metric: "Deadlock",
        });
      }
    }
    return aborted;
  }

  return {
    async sweep(): Promise<SweepReport> {
      const now = clock();
      const shards = Array.from({ length: store.shards }, (_, i) => i);
      const ids = (await Promise.all(shards.map((s) => store.due(s, now, batch)))).flat();
      let advanced = 0;
      let failed = 0;
      for (let i = 0; i < ids.length; i += concurrency) {
        const results = await Promise.allSettled(ids.slice(i, i + concurrency).map(sweepOne));
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
