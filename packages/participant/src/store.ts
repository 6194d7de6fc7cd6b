/**
 * The store port: where the kit keeps one barrier record per step of a
 * transaction. Two operations, each one atomic call on the backend: read a
 * record, and write one on the condition that the stored version is the one
 * read (0: no record yet). Every barrier transition is one such write, so two
 * deliveries racing for the same step can never both win.
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
  /** 1 when created, + 1 on every write. */
  readonly version: number;
  readonly state: BarrierState;
  /** The transaction's incarnation (its `startedAt`), when the request that wrote the record named one. */
  readonly incarnation?: string;
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

export type PutResult = { readonly written: true } | { readonly written: false };

export interface BarrierStore {
  get(key: string): Promise<BarrierRecord | undefined>;
  /**
   * Writes `record` if the stored record's version is `expectedVersion` (0: no
   * record). `record.version` is `expectedVersion + 1`. Returns
   * `{ written: false }` when the condition fails: someone else wrote first.
   */
  put(record: BarrierRecord, expectedVersion: number): Promise<PutResult>;
}
