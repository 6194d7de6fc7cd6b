/**
 * Deadlock detection over the global wait-for graph: each waiting transaction
 * points at the transactions holding what it waits for. Pure.
 */
import { isOlder, type TxAge } from "./lock-policy.ts";
import { attemptOf, isWaiting, type TxRecord } from "./transaction.ts";

export interface Waiter extends TxAge {
  /** Transactions this one waits for. */
  readonly waitsFor: readonly string[];
}

export interface Deadlock {
  /** The youngest transaction of the cycle: the one to abort. */
  readonly victim: string;
  /** The transactions of the cycle, each waiting for the next (the last for the first). */
  readonly cycle: readonly string[];
}

/**
 * The cycles to break, each with its youngest transaction as the victim.
 * Cycles are found one at a time; after a victim is chosen its edges are
 * removed, so one victim never counts for two cycles it breaks at once.
 */
export function deadlocks(waiters: readonly Waiter[]): Deadlock[] {
  const byId = new Map(waiters.map((w) => [w.id, w]));
  const removed = new Set<string>();
  const found: Deadlock[] = [];
  for (;;) {
    const cycle = findCycle(byId, removed);
    if (!cycle) return found;
    let youngest = cycle[0] as Waiter;
    for (const w of cycle) if (isOlder(youngest, w)) youngest = w;
    found.push({ victim: youngest.id, cycle: cycle.map((w) => w.id) });
    removed.add(youngest.id);
  }
}

/** The victims that break every cycle: the youngest transaction of each. */
export const deadlockVictims = (waiters: readonly Waiter[]): string[] =>
  deadlocks(waiters).map((d) => d.victim);

/**
 * Whether the locks `holder` holds at `participant` wait on a decision it has
 * yet to make: a 2PC transaction still preparing, or a saga whose open atomic
 * stage (undecided) includes the participant. A saga holds locks only in its
 * atomic stages, and a participant is in one of them at most: once that
 * stage is decided its locks there go with the decision, whatever the saga
 * waits for next, so an edge to it through that participant is stale.
 */
export function holdsUndecidedLocksAt(holder: TxRecord, participant: string): boolean {
  if (holder.protocol === "2pc") {
    // A restart rolls its attempt back everywhere: it holds nothing until the next attempt prepares.
    return (
      holder.state === "preparing" &&
      holder.restarting === undefined &&
      holder.participants.some((p) => p.name === participant)
    );
  }
  const open = holder.stages[holder.current]?.atomic;
  return (
    holder.state === "running" &&
    open !== undefined &&
    open.decision === undefined &&
    open.participants.some((p) => p.name === participant)
  );
}

/**
 * Whether `waiter` still waits, through some participant, for locks `holder`
 * holds undecided: the holder at the attempt that took the lock. A restart
 * released that attempt's locks, and the next attempt preparing there has not
 * taken them (a report of the earlier one may arrive after its release).
 */
export function stillWaitsFor(waiter: TxRecord, holder: TxRecord): boolean {
  if (!isWaiting(waiter)) return false;
  const current = holder.protocol === "2pc" ? attemptOf(holder) : 0;
  return Object.entries(waiter.waits ?? {}).some(
    ([participant, id]) =>
      id === holder.id &&
      (waiter.holderAttempts?.[participant] ?? 0) === current &&
      holdsUndecidedLocksAt(holder, participant),
  );
}

/**
 * Whether a cycle found in the wait-for index still holds in the records as
 * they are now: each transaction still waits for the next. The index is read
 * before the abort, and a recorded wait may outlive the lock it was about (the
 * holder's stage decided or its attempt restarted, or the message reporting it
 * arrived late).
 */
export function cycleHolds(records: readonly (TxRecord | undefined)[]): boolean {
  return records.every((tx, i) => {
    const next = records[(i + 1) % records.length];
    return tx !== undefined && next !== undefined && stillWaitsFor(tx, next);
  });
}

function findCycle(byId: ReadonlyMap<string, Waiter>, removed: ReadonlySet<string>): Waiter[] | undefined {
  const state = new Map<string, "open" | "done">();
  const path: Waiter[] = [];
  const visit = (w: Waiter): Waiter[] | undefined => {
    state.set(w.id, "open");
    path.push(w);
    for (const next of w.waitsFor) {
      if (removed.has(next)) continue;
      const target = byId.get(next);
      if (!target) continue;
      if (state.get(next) === "open") return path.slice(path.findIndex((p) => p.id === next));
      if (!state.has(next)) {
        const found = visit(target);
        if (found) return found;
      }
    }
    path.pop();
    state.set(w.id, "done");
    return undefined;
  };
  for (const w of [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : 1))) {
    if (removed.has(w.id) || state.has(w.id)) continue;
    const found = visit(w);
    if (found) return found;
  }
  return undefined;
}
