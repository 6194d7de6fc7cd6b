/**
 * What a participant does when a resource it needs is locked by another
 * transaction. Pure; the participant carries the decision out.
 *
 * - wait-die (default): an older transaction waits for a younger holder; a
 *   younger one dies (votes no). Waits only ever go from older to younger, so
 *   they can never form a cycle.
 * - no-wait: every conflict votes no.
 * - detect: always wait; the sweeper finds cycles in the global wait-for graph
 *   and aborts the youngest transaction of each.
 */
export const LOCK_POLICIES = ["wait-die", "no-wait", "detect"] as const;
export type LockPolicy = (typeof LOCK_POLICIES)[number];

export const isLockPolicy = (value: string): value is LockPolicy =>
  (LOCK_POLICIES as readonly string[]).includes(value);

/** A transaction's identity for age comparisons: its start time, ties broken by id. */
export interface TxAge {
  readonly id: string;
  readonly startedAt: number;
}

/** True when `a` started before `b`. */
export function isOlder(a: TxAge, b: TxAge): boolean {
  return a.startedAt !== b.startedAt ? a.startedAt < b.startedAt : a.id < b.id;
}

/** A comparator for `sort`: the oldest first, in isOlder's order. */
export const oldestFirst = (a: TxAge, b: TxAge): number => (isOlder(a, b) ? -1 : isOlder(b, a) ? 1 : 0);

export function onConflict(policy: LockPolicy, requester: TxAge, holder: TxAge | undefined): "wait" | "die" {
  switch (policy) {
    case "no-wait":
      return "die";
    case "detect":
      return "wait";
    case "wait-die":
      // A holder of unknown age (locked before ages were recorded) is treated as older: die, never risk a cycle.
      return holder !== undefined && isOlder(requester, holder) ? "wait" : "die";
  }
}
