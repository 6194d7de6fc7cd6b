import type { Account, AccountEffect } from "./bank-rules.ts";

export const BARRIER_STATES = ["prepared", "committed", "rolled_back", "refused"] as const;
/**
 * prepared: voted yes, locks held. committed / rolled_back: decision applied.
 * refused: voted no; nothing held, and a re-delivered PREPARE votes no again.
 * A ROLLBACK that finds no barrier writes rolled_back, so a late PREPARE refuses.
 */
export type BarrierState = (typeof BARRIER_STATES)[number];

export interface Barrier {
  readonly server: string;
  readonly txId: string;
  readonly state: BarrierState;
  readonly effects: readonly AccountEffect[];
  readonly reason?: string;
  readonly failedBranch?: number;
  readonly createdAt: number;
  /** The transaction's start (from its PREPARE): stored on each lock for wait-die. */
  readonly txStartedAt?: number;
  readonly decidedAt?: number;
}

export interface StoredAccount extends Account {
  readonly server: string;
  readonly lockedAt?: number;
}

/** Why an atomic write of the barrier and its accounts did not happen. */
export class BarrierConflictError extends Error {
  override name = "BarrierConflictError";
  constructor(
    readonly txId: string,
    /** The barrier was written or changed by someone else: re-read it. */
    readonly barrierChanged: boolean,
    options?: ErrorOptions,
  ) {
    super(`barrier or accounts of ${txId} changed since they were read`, options);
  }
}

export class AccountLockedError extends Error {
  override name = "AccountLockedError";
  constructor(
    readonly account: string,
    readonly lockedBy: string,
    options?: ErrorOptions,
  ) {
    super(`account ${account} is locked by transaction ${lockedBy}`, options);
  }
}

/**
 * The bank's persistence. Each method is ONE atomic DynamoDB operation whose
 * preconditions are stated; a failed precondition raises a named error.
 */
export interface BankStore {
  getBarrier(server: string, txId: string): Promise<Barrier | undefined>;
  getAccount(server: string, id: string): Promise<StoredAccount | undefined>;
  /** The barrier (if any) and the accounts a PREPARE needs, read together. */
  loadForPrepare(
    server: string,
    txId: string,
    ids: readonly string[],
  ): Promise<{ barrier?: Barrier; accounts: Map<string, StoredAccount> }>;
  /** Barrier `prepared` + every account locked; requires no barrier and every account unlocked at its read version. */
  prepare(barrier: Barrier, now: number): Promise<void>;
  /** Barrier `refused`; requires no barrier. */
  refuse(barrier: Barrier): Promise<void>;
  /** Applies the effects and unlocks; requires the barrier `prepared` and the locks ours. */
  commit(barrier: Barrier, now: number): Promise<void>;
  /** Unlocks without applying; requires the barrier `prepared`. */
  rollback(barrier: Barrier, now: number): Promise<void>;
  /** Writes a `rolled_back` barrier where none exists, so a late PREPARE refuses. */
  rollbackUnprepared(server: string, txId: string, now: number): Promise<void>;
  /** Prepared barriers older than `before`: transactions this server may be in doubt about. */
  preparedBefore(server: string, before: number, limit: number): Promise<Barrier[]>;
  /** Creates or resets an account; requires it unlocked. Bumps the version. */
  putAccount(server: string, id: string, balance: number): Promise<StoredAccount>;
}
