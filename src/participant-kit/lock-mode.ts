/**
 * How a participant holds the quantities a PREPARE moves (see docs/participants.md):
 *
 * - escrow (default): a debit reserves its amount against what is available
 *   (value less reservations), a credit records a pending amount; no lock, so
 *   transactions that only add and take never wait for each other.
 * - exclusive: every touched resource is locked for the transaction, as a
 *   branch that pins a version always is; the lock policies then decide every
 *   conflict (the setting that keeps them testable under load).
 */
export const LOCK_MODES = ["escrow", "exclusive"] as const;
export type LockMode = (typeof LOCK_MODES)[number];
