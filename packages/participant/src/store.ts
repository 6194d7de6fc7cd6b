/**
 * The store port: where the kit keeps one barrier record per step of a
 * transaction and incarnation, and — for services whose state lives in the
 * same store — that state. Each write is one atomic call on the backend: a
 * barrier transition conditional on the version read (0: no record yet),
 * together with the writes the business rule returned. Two deliveries racing
 * for the same step can never both win, and a rule's writes land exactly when
 * its barrier transition does.
 */
import type { Branch } from "./request.ts";

/** A 2PC barrier's states; `preparing`, `committing` and `rolling_back` are held under a lease while your code runs. */
export type TwoPhaseState =
  | "preparing"
  | "prepared"
  | "refused"
  | "committing"
  | "committed"
  | "rolling_back"
  | "rolled_back";

/** A saga step barrier's states; `acting` and `compensating` are held under a lease while your code runs. */
export type StepState = "acting" | "done" | "failed" | "compensating" | "compensated";

export type BarrierState = TwoPhaseState | StepState;

/** Who is running the business code of a step right now, and until when the claim holds. */
export interface Lease {
  readonly token: string;
  /** Epoch ms; past it, another delivery may take the step over. */
  readonly until: number;
}

export interface BarrierRecord {
  /** `2pc#<participant>#<txId>` or `step#<participant>#<txId>#<branch>`. */
  readonly key: string;
  /**
   * The transaction's incarnation (its `startedAt`): with `key`, what the
   * record is stored under, so an id used again gets records of its own.
   * Absent only on a ROLLBACK's record from a dispatcher that named none.
   */
  readonly incarnation?: string;
  /** 1 when created, + 1 on every write. */
  readonly version: number;
  readonly state: BarrierState;
  /** Why a vote was no or a step failed. */
  readonly reason?: string;
  /** 2PC: the branches the PREPARE covered, handed to `commit` and `rollback`. */
  readonly branches?: readonly Branch[];
  /** What your `prepare` or `action` returned as `data`, handed back to `commit`, `rollback`, `compensate`. */
  readonly data?: unknown;
  /** A ROLLBACK (or an atomic compensation) that found nothing: answered as an unknown transaction. */
  readonly neverPrepared?: boolean;
  readonly lease?: Lease;
  /** Epoch seconds after which the backend may delete the record (DynamoDB TTL); absent while it must stay. */
  readonly expiresAt?: number;
}

/**
 * One write a rule asks for on the service's own items, committed in the same
 * atomic write as the barrier transition (all or nothing). An item is a flat
 * object of attributes under a string key.
 */
export type Write =
  /** Create or replace the item; with `ifAbsent`, only if there is none. */
  | {
      readonly kind: "put";
      readonly key: string;
      readonly item: Readonly<Record<string, unknown>>;
      readonly ifAbsent?: boolean;
    }
  /**
   * Add `amount` (negative to take) to a number attribute (absent counts as
   * 0); with `atLeast`, only if the result is at least that — the check and
   * the change are one step, so two transactions can never both spend the
   * same points.
   */
  | {
      readonly kind: "add";
      readonly key: string;
      readonly field: string;
      readonly amount: number;
      readonly atLeast?: number;
    }
  | { readonly kind: "delete"; readonly key: string };

export type Item = Readonly<Record<string, unknown>>;

/**
 * `written: false` when a condition failed and nothing was written: the
 * barrier's version moved (someone else wrote first), or one of the writes'
 * conditions (`ifAbsent`, `atLeast`) did not hold.
 */
export type PutResult = { readonly written: true } | { readonly written: false };

export interface BarrierStore {
  /** The record of this key and incarnation (undefined: the incarnation-less one). Strongly consistent. */
  get(key: string, incarnation: string | undefined): Promise<BarrierRecord | undefined>;
  /** The record of the newest incarnation held under this key (for a decision that names none). */
  newest(key: string): Promise<BarrierRecord | undefined>;
  /**
   * Writes `record` if the stored record (same key and incarnation) has
   * version `expectedVersion` (0: none), together with `writes`, atomically:
   * all or nothing. `record.version` is `expectedVersion + 1`.
   */
  put(record: BarrierRecord, expectedVersion: number, writes?: readonly Write[]): Promise<PutResult>;
  /** One of the service's items, as the last committed write left it. Strongly consistent. */
  readItem(key: string): Promise<Item | undefined>;
}
