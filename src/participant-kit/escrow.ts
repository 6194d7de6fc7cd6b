/**
 * The escrow method's arithmetic on one resource (O'Neil, "The Escrow
 * Transactional Method", 1986), pure so that both stores and the invariant
 * checks share it. A debit is reserved against what is available (the value
 * less what is reserved), a credit is pending on top of the value; commit
 * applies a move and releases its hold, rollback only releases it. Whatever
 * order the holders commit or roll back in, the value stays within
 * [0, MAX_SAFE_INTEGER].
 */
import type { Hold, ResourceState } from "./resource-model.ts";

export type Moves = Readonly<Record<string, number>>;
export type Holds = Readonly<Record<string, Hold>>;

const NONE: Hold = { reserved: 0, pending: 0 };

/** What a debit may take from `field`: the value less every reservation on it. */
export const availableOf = (state: ResourceState | undefined, holds: Holds | undefined, field: string) =>
  Number(state?.[field] ?? 0) - (holds?.[field]?.reserved ?? 0);

/** Whether `moves` can be held (or applied) now: every debit covered, no credit past a safe integer. */
export function fits(state: ResourceState | undefined, holds: Holds | undefined, moves: Moves): boolean {
  if (state === undefined) return false;
  return Object.entries(moves).every(([field, delta]) =>
    delta < 0
      ? availableOf(state, holds, field) >= -delta
      : Number(state[field] ?? 0) + (holds?.[field]?.pending ?? 0) + delta <= Number.MAX_SAFE_INTEGER,
  );
}

/**
 * The holds after taking (`sign` 1: a PREPARE) or releasing (`sign` -1: commit,
 * rollback) `moves`; fields that hold nothing are dropped, and so are empty holds.
 */
export function shiftHolds(holds: Holds | undefined, moves: Moves, sign: 1 | -1): Holds | undefined {
  const next: Record<string, Hold> = { ...holds };
  for (const [field, delta] of Object.entries(moves)) {
    const { reserved, pending } = next[field] ?? NONE;
    const hold =
      delta < 0
        ? { reserved: reserved + sign * -delta, pending }
        : { reserved, pending: pending + sign * delta };
    if (hold.reserved === 0 && hold.pending === 0) delete next[field];
    else next[field] = hold;
  }
  return Object.keys(next).length > 0 ? next : undefined;
}

/** The state with `moves` applied to its quantity fields. */
export function applyMoves<S extends ResourceState>(state: S, moves: Moves): S {
  const next: Record<string, string | number | boolean> = { ...state };
  for (const [field, delta] of Object.entries(moves)) next[field] = Number(next[field] ?? 0) + delta;
  return next as S;
}

/** True while anything is reserved or pending on the resource. */
export const isHeld = (holds: Holds | undefined) =>
  holds !== undefined && Object.values(holds).some((h) => h.reserved > 0 || h.pending > 0);
