/**
 * Breaking a deadlock under the detect policy: the youngest transaction of a
 * cycle of waits is restarted with its age kept (a 2PC transaction whose
 * deadline has time left) or aborted with `deadlock`. Used by the coordinator,
 * when the wait that closes a cycle is reported, and by the sweeper, as the
 * safety net over the whole wait-for index.
 */
import type { Policy } from "../core/step.ts";
import type { TxRecord } from "../core/transaction.ts";
import { requestRestart } from "../core/transitions.ts";
import { cycleHolds, type Deadlock, deadlocks, stillWaitsFor, type Waiter } from "../core/wait-for-graph.ts";
import { continueTrace } from "../trace-context.ts";
import { advance, type CoordinatorDeps } from "./advance.ts";

/** Records read while following waits from one transaction: a cycle among Lambda-sized loads. */
const MAX_FOLLOWED = 32;

/**
 * Breaks one cycle found in an index or a walk: checked again on the records as
 * they are now (an edge may be stale: the lock it was about went with a
 * decision, or the waiter got it and voted), then the victim's own wait once
 * more under its conditional write. Returns whether the victim was restarted or
 * aborted.
 */
export async function breakCycle(
  deps: CoordinatorDeps & { readonly policy: Policy },
  { victim: id, cycle }: Deadlock,
): Promise<boolean> {
  const records = await Promise.all(cycle.map((member) => deps.store.get(member)));
  if (!cycleHolds(records)) {
    deps.log.info("wait-for cycle no longer holds; nothing aborted", { txId: id, cycle });
    return false;
  }
  const next = records[(cycle.indexOf(id) + 1) % cycle.length] as TxRecord;
  let broken = false;
  await advance(deps, id, (tx, now) => {
    // The sweeper's restart goes out in the victim's trace (no-op in a message's handling: it has one).
    continueTrace(tx.traceparent);
    broken = false;
    if (!stillWaitsFor(tx, next)) return { next: tx, effects: [], changed: false };
    const step = requestRestart(tx, "deadlock", now, deps.policy);
    if ("rejected" in step) return { next: tx, effects: [], changed: false };
    broken = step.changed;
    return step;
  });
  if (!broken) return false;
  deps.metrics?.count("concord_deadlocks_total", {});
  deps.log.warn("deadlock broken: restarted or aborted the youngest transaction of a cycle", {
    txId: id,
    metric: "Deadlock",
  });
  return true;
}

/**
 * Follows the waits from `start` (just reported waiting) through the records of
 * the transactions it waits for, and theirs, and breaks a cycle through `start`
 * if they close one: the edge that closes a cycle finds it, not the next sweep.
 */
export async function breakCycleThrough(
  deps: CoordinatorDeps & { readonly policy: Policy },
  start: TxRecord,
): Promise<boolean> {
  const seen = new Map<string, Waiter>();
  const toVisit: TxRecord[] = [start];
  while (toVisit.length > 0 && seen.size < MAX_FOLLOWED) {
    const tx = toVisit.pop() as TxRecord;
    if (seen.has(tx.id) || tx.waits === undefined) continue;
    const waitsFor = [...new Set(Object.values(tx.waits))];
    seen.set(tx.id, { id: tx.id, startedAt: tx.createdAt, waitsFor });
    const next = await Promise.all(waitsFor.filter((h) => !seen.has(h)).map((h) => deps.store.get(h)));
    for (const r of next) if (r && stillWaitsFor(tx, r)) toVisit.push(r);
  }
  const through = deadlocks([...seen.values()]).find((d) => d.cycle.includes(start.id));
  return through ? breakCycle(deps, through) : false;
}
