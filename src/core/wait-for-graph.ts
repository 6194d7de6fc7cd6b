/**
 * Deadlock detection over the global wait-for graph: each waiting transaction
 * points at the transactions holding what it waits for. Pure.
 */
import { isOlder, type TxAge } from "./lock-policy.ts";

export interface Waiter extends TxAge {
  /** Transactions this one waits for. */
  readonly waitsFor: readonly string[];
}

/**
 * The victims that break every cycle: the youngest transaction of each cycle
 * found. Cycles are found one at a time; after a victim is chosen its edges are
 * removed, so one victim never counts for two cycles it breaks at once.
 */
export function deadlockVictims(waiters: readonly Waiter[]): string[] {
  const byId = new Map(waiters.map((w) => [w.id, w]));
  const removed = new Set<string>();
  const victims: string[] = [];
  for (;;) {
    const cycle = findCycle(byId, removed);
    if (!cycle) return victims;
    let youngest = cycle[0] as Waiter;
    for (const w of cycle) if (isOlder(youngest, w)) youngest = w;
    victims.push(youngest.id);
    removed.add(youngest.id);
  }
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
