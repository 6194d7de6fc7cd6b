/**
 * The state design §4's invariants are read from, in a form every world can
 * build: the simulation from its in-memory stores and ledger, the chaos run and
 * the integration helpers from DynamoDB scans.
 */
import type { TxRecord } from "../../src/core/transaction.ts";
import type { Entry } from "../sim/ledger.ts";

export type { Entry };

export const INVARIANTS = [
  "atomicity",
  "agreement",
  "conservation",
  "non-negative",
  "liveness",
  "no-lock-left",
  "reservation-within-available",
  "no-reservation-left",
  "no-prepared-left",
  "no-waiter-left",
  "restart-left-nothing",
  "saga-exactly-once",
  "saga-committed",
  "saga-compensated",
  "saga-barrier",
  "saga-order",
  "atomic-stage",
  "view-agreement",
] as const;
export type StateInvariant = (typeof INVARIANTS)[number];

export interface StateViolation {
  readonly invariant: StateInvariant;
  readonly detail: string;
}

export type Violate = (invariant: StateInvariant, detail: string) => void;

/** An account of a bank server (a resource of the bank model). */
export interface AccountView {
  readonly participant: string;
  readonly id: string;
  readonly balance: number;
  readonly lockedBy?: string | undefined;
  /** What reservations (escrow) hold on the balance; absent when nothing is held. */
  readonly hold?: { readonly reserved: number; readonly pending: number } | undefined;
  /** Transactions registered to be woken when the account's lock is released. */
  readonly waiters?: readonly string[] | undefined;
}

/** A participant's 2PC barrier (or an atomic stage's). Without `txStartedAt` it is read as any incarnation's. */
export interface BarrierView {
  readonly participant: string;
  readonly txId: string;
  readonly txStartedAt?: number | undefined;
  /** The attempt of a restarted 2PC transaction it is for; absent: the first. */
  readonly attempt?: number | undefined;
  readonly state: string;
}

/** A participant's saga step barrier. */
export interface StepView {
  readonly participant: string;
  readonly txId: string;
  readonly txStartedAt?: number | undefined;
  readonly branch: number;
  readonly state: string;
}

export interface Snapshot {
  readonly records: readonly TxRecord[];
  /** Ids that must have a record (the client started them). */
  readonly expectedIds?: readonly string[];
  /**
   * Records the TTL deleted during the run (their ids may have been used again):
   * their effects stand in the balances, and their sagas are checked all the same.
   */
  readonly expired?: readonly TxRecord[];
  /**
   * A barrier decided this long before `now` may have been deleted by its TTL:
   * its absence then contradicts nothing. Without it, barriers never expire.
   */
  readonly expiry?: { readonly retentionMs: number; readonly now: number };
  readonly accounts: readonly AccountView[];
  readonly barriers: readonly BarrierView[];
  readonly steps: readonly StepView[];
  /**
   * Every account's opening balance, by `participant/account`: the balances must be
   * these plus every committed transaction, whole (atomicity), and sum to them (conservation).
   */
  readonly initial?: ReadonlyMap<string, number>;
  /** The total alone, where the opening balances per account are not known. */
  readonly expectedTotal?: number;
  /**
   * Every effect in the order it became durable: with it, each saga's branches are
   * checked (exactly once, order, atomic stages, the client's view), and every
   * participant a 2PC or atomic stage names must hold its barrier.
   */
  readonly ledger?: readonly Entry[];
}

/** One incarnation of an id: barriers and ledger entries are matched to records by it. */
export const incarnation = (txId: string, startedAt: number | undefined): string =>
  `${txId}@${startedAt ?? ""}`;

/**
 * The hold the DynamoDB store keeps beside a balance (balanceAvailable = balance -
 * reserved, balancePromised = balance + pending); an attribute absent reads as
 * the balance, and a hold of nothing as none.
 */
function holdOf(item: Record<string, unknown>): AccountView["hold"] {
  const balance = Number(item.balance ?? 0);
  const available = item.balanceAvailable === undefined ? balance : Number(item.balanceAvailable);
  const promised = item.balancePromised === undefined ? balance : Number(item.balancePromised);
  const hold = { reserved: balance - available, pending: promised - balance };
  return hold.reserved === 0 && hold.pending === 0 ? undefined : hold;
}

/** A DynamoDB scan of a participant table, as the checker reads it (kinds: account, barrier, step). */
export function participantItems(items: readonly Record<string, unknown>[]) {
  const n = (v: unknown) => (v === undefined ? undefined : Number(v));
  return {
    accounts: items
      .filter((i) => i.kind === "account")
      .map(
        (i): AccountView => ({
          participant: String(i.participant),
          id: String(i.id),
          balance: Number(i.balance ?? 0),
          lockedBy: i.lockedBy === undefined ? undefined : String(i.lockedBy),
          hold: holdOf(i),
          waiters: Object.keys(i)
            .filter((k) => k.startsWith("waiter#"))
            .map((k) => k.slice("waiter#".length)),
        }),
      ),
    barriers: items
      .filter((i) => i.kind === "barrier")
      .map(
        (i): BarrierView => ({
          participant: String(i.participant),
          txId: String(i.txId),
          txStartedAt: n(i.txStartedAt),
          attempt: n(i.attempt),
          state: String(i.state),
        }),
      ),
    steps: items
      .filter((i) => i.kind === "step")
      .map(
        (i): StepView => ({
          participant: String(i.participant),
          txId: String(i.txId),
          txStartedAt: n(i.txStartedAt),
          branch: Number(i.branch),
          state: String(i.state),
        }),
      ),
  };
}
