/** The coordinator's durable record of one global transaction, and its parts. */

export const TX_STATES = ["preparing", "committing", "aborting", "committed", "aborted"] as const;
export type TxState = (typeof TX_STATES)[number];

export const FINAL_STATES: ReadonlySet<TxState> = new Set(["committed", "aborted"]);
export const isFinal = (state: TxState): boolean => FINAL_STATES.has(state);

export type Decision = "commit" | "abort";
export type Vote = "yes" | "no";
export type Protocol = "2pc";

export interface BranchSpec {
  readonly participant: string;
  readonly action: string;
  readonly input: unknown;
}

/** What the coordinator knows about one participant of the transaction. */
export interface ParticipantState {
  readonly name: string;
  /** Indexes into the record's branches, in request order. */
  readonly branches: readonly number[];
  readonly vote?: Vote;
  readonly reason?: string;
  /** Branch the participant blamed for a no vote, when it named one. */
  readonly failedBranch?: number;
  readonly acked?: boolean;
}

export const EVENT_TYPES = [
  "created",
  "prepare_sent",
  "prepare_resent",
  "vote",
  "late_vote",
  "decision",
  "decision_sent",
  "decision_resent",
  "decision_stalled",
  "ack",
  "completed",
  "waiting",
  "abort_requested",
  "retry_requested",
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export interface TxEvent {
  readonly at: number;
  readonly type: EventType;
  readonly participants?: readonly string[];
  readonly participant?: string;
  readonly vote?: Vote;
  readonly holder?: string;
  readonly decision?: Decision;
  readonly reason?: string;
  readonly attempt?: number;
}

export interface TxRecord {
  readonly id: string;
  readonly protocol: Protocol;
  readonly state: TxState;
  readonly createdAt: number;
  readonly timeoutMs: number;
  readonly deadline: number;
  readonly decidedAt?: number;
  readonly completedAt?: number;
  readonly reason?: string;
  readonly branches: readonly BranchSpec[];
  readonly participants: readonly ParticipantState[];
  readonly events: readonly TxEvent[];
  /** Wait-for edges while preparing: participant → the transaction whose lock it waits for. */
  readonly waits?: Readonly<Record<string, string>>;
  /** Events left out of `events` to bound the record's size. */
  readonly eventsDropped: number;
  /** Re-sends by the sweeper in the current phase; reset when the phase changes. */
  readonly attempts: number;
  /** When the sweeper should next look at this transaction; absent once final. */
  readonly dueAt?: number;
  /** Fingerprint of the request that created it, to tell a retry from a reused id. */
  readonly requestHash: string;
  /** Optimistic concurrency: every write is conditional on the version it read. */
  readonly version: number;
}
