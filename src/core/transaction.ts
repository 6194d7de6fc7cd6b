/** The coordinator's durable record of one global transaction, and its parts. */
import type { Reason } from "./reasons.ts";

export const TWO_PC_STATES = ["preparing", "committing", "aborting", "committed", "aborted"] as const;
export type TwoPcState = (typeof TWO_PC_STATES)[number];

/**
 * A saga runs its stages forward (`running`) until every stage succeeded, or
 * undoes what it attempted (`compensating`). `committing`: every stage succeeded
 * but an atomic stage's commit is not acknowledged everywhere yet.
 */
export const SAGA_STATES = ["running", "compensating", "committing", "committed", "compensated"] as const;
export type SagaState = (typeof SAGA_STATES)[number];

export type TxState = TwoPcState | SagaState;

export const FINAL_STATES: ReadonlySet<TxState> = new Set(["committed", "aborted", "compensated"]);
export const isFinal = (state: TxState): boolean => FINAL_STATES.has(state);

export type Decision = "commit" | "abort";
export type Vote = "yes" | "no";
export const PROTOCOLS = ["2pc", "saga"] as const;
export type Protocol = (typeof PROTOCOLS)[number];

/** A saga branch's undo: an action of the same participant. */
export interface Compensation {
  readonly action: string;
  readonly input: unknown;
}

export interface BranchSpec {
  readonly participant: string;
  readonly action: string;
  readonly input: unknown;
  /** Saga only: branches sharing a stage run in parallel; stages run in ascending order. */
  readonly stage?: number;
  /** Saga only (and required there). */
  readonly compensation?: Compensation;
}

/** What the coordinator knows about one participant of a 2PC (or of a saga's atomic stage). */
export interface ParticipantState {
  readonly name: string;
  /** Indexes into the record's branches, in request order. */
  readonly branches: readonly number[];
  readonly vote?: Vote;
  readonly reason?: Reason;
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
  // one-phase: at the deadline (or an operator's abort) the participant is asked to roll back, and answers with its outcome
  "outcome_asked",
  "outcome_asked_again",
  "restarted",
  // saga
  "stage_started",
  "action_sent",
  "action_resent",
  "step_result",
  "stage_decision",
  "compensation_sent",
  "compensation_resent",
  "compensation_stalled",
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export type SagaStepKind = "action" | "compensation";
export type StepOutcome = "done" | "failed" | "retry";

export interface TxEvent {
  readonly at: number;
  readonly type: EventType;
  /** The first few participants the event is about (see `participantsOmitted`). */
  readonly participants?: readonly string[];
  /** Participants the event is about beyond those it names: an event's size is bounded. */
  readonly participantsOmitted?: number;
  readonly participant?: string;
  readonly vote?: Vote;
  readonly holder?: string;
  readonly decision?: Decision;
  readonly reason?: Reason;
  readonly attempt?: number;
  /** Saga: the stage number (as in the request) the event is about. */
  readonly stage?: number;
  readonly branch?: number;
  readonly branches?: readonly number[];
  readonly step?: SagaStepKind;
  readonly outcome?: StepOutcome;
}

/** What every transaction record holds, whatever its protocol. */
interface RecordBase {
  readonly id: string;
  readonly createdAt: number;
  readonly timeoutMs: number;
  readonly deadline: number;
  readonly decidedAt?: number;
  readonly completedAt?: number;
  readonly reason?: Reason;
  readonly branches: readonly BranchSpec[];
  readonly events: readonly TxEvent[];
  /** Wait-for edges while undecided: participant → the transaction whose lock it waits for. */
  readonly waits?: Readonly<Record<string, string>>;
  /**
   * Beside `waits`: participant → the attempt of the holder whose lock it waits
   * for, where not the first (2PC restarts). The edge counts only while the
   * holder is still at that attempt: a later one has not taken that lock.
   */
  readonly holderAttempts?: Readonly<Record<string, number>>;
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
  /** The W3C trace it was begun in: work the sweeper starts on it (re-sends, the deadline's abort) continues that trace. */
  readonly traceparent?: string;
}

export interface TwoPcRecord extends RecordBase {
  readonly protocol: "2pc";
  readonly state: TwoPcState;
  readonly participants: readonly ParticipantState[];
  /**
   * Every branch is at one participant of the participant kit: it decides in one
   * phase (its branches and a committed barrier in one write, or a refusal) and
   * reports the outcome. The coordinator never decides abort alone for it.
   */
  readonly onePhase?: true;
  /**
   * One-phase, past the deadline or aborted by an operator: ROLLBACK went to the
   * participant, whose answer (rolled back, or committed before it) is the
   * outcome; this is the reason recorded if it rolled back.
   */
  readonly resolving?: Reason;
  /**
   * Which attempt of the transaction its participants prepare (absent: the
   * first, 0). A transaction that dies for contention before its deadline is
   * restarted under the same id and age; every message and barrier names its
   * attempt, so an earlier attempt's are never taken for the current one's.
   */
  readonly attempt?: number;
  /**
   * Set while the current attempt is rolled back for a restart: the contention
   * that ended it. The next attempt's PREPAREs leave once every participant
   * acknowledged the ROLLBACK, so attempts never overlap at a participant.
   */
  readonly restarting?: Reason;
  /**
   * While restarting: the transaction whose lock it died at (wait-die). The next
   * attempt waits for that lock's release (a `released` message; the sweep after
   * the PREPARE re-send interval is the safety net), not to die at once again.
   */
  readonly restartAfter?: string;
  /**
   * While restarting: that lock was released before every participant let go of
   * the attempt, so the next attempt starts as soon as they have (no back-off:
   * the wake-up it was registered for came).
   */
  readonly restartWoken?: true;
}

/** The attempt a 2PC record is at: 0 until its first restart. */
export const attemptOf = (tx: { readonly attempt?: number }): number => tx.attempt ?? 0;

/**
 * Whether `tx` is the 2PC transaction started at `startedAt` (not an earlier one
 * under a reused id) and decided to commit at `attempt`. A decision never
 * changes, so a stale copy can only say no where the truth is yes.
 */
export const commitsAt = (tx: TxRecord, startedAt: number, attempt: number): boolean =>
  tx.protocol === "2pc" &&
  tx.createdAt === startedAt &&
  attemptOf(tx) === attempt &&
  (tx.state === "committing" || tx.state === "committed");

/**
 * Where one saga branch's own steps stand. An atomic stage's branches have no
 * action step of their own (their stage's 2PC group applies them): they stay
 * `pending` until the group's commit is decided, then are `done`.
 */
export type SagaStep =
  | { readonly status: "pending" }
  | {
      /** `running`: the action is out; `compensating`: the compensation is out. */
      readonly status: "running" | "compensating";
      /** Re-sends of the step out now; starts over when the compensation starts. */
      readonly attempts: number;
      /** When the step is sent again unless its result arrives first. */
      readonly dueAt: number;
      readonly reason?: Reason;
      /** The action failed (applied nothing) with this reason; the compensation only blocks a late one. */
      readonly actionFailed?: Reason;
    }
  | {
      readonly status: "done" | "failed" | "compensated";
      readonly attempts: number;
      readonly reason?: Reason;
      readonly actionFailed?: Reason;
    };
export type SagaStepStatus = SagaStep["status"];

/** A participant of an atomic stage, with its own re-send schedule. */
export interface AtomicParticipant extends ParticipantState {
  readonly attempts: number;
  /** When PREPARE or the decision goes out again; absent while nothing is owed to it. */
  readonly dueAt?: number;
}

/** The 2PC group of an atomic stage: prepare all, commit all on all-yes, else roll back. */
export interface AtomicGroup {
  readonly participants: readonly AtomicParticipant[];
  readonly decision?: Decision;
  readonly decidedAt?: number;
}

export interface SagaStage {
  /** The stage number of the request (a branch's `stage`, or its index). */
  readonly stage: number;
  /** Indexes into the record's branches, in request order. */
  readonly branches: readonly number[];
  /** Present when the stage is atomic. */
  readonly atomic?: AtomicGroup;
}

export interface SagaRecord extends RecordBase {
  readonly protocol: "saga";
  readonly state: SagaState;
  /** In ascending stage order. */
  readonly stages: readonly SagaStage[];
  /** Index into `stages` of the latest stage started. */
  readonly current: number;
  /** One per branch, in request order. */
  readonly steps: readonly SagaStep[];
  /** The branch whose failed action started the compensation. */
  readonly failedBranch?: number;
}

export type TxRecord = TwoPcRecord | SagaRecord;

/**
 * Undecided and waiting for another transaction's lock: a vertex of the
 * wait-for graph (the detect lock policy) that the sweeper may abort.
 */
export function isWaiting(tx: TxRecord): boolean {
  const undecided = tx.protocol === "2pc" ? tx.state === "preparing" : tx.state === "running";
  return undecided && tx.waits !== undefined && Object.keys(tx.waits).length > 0;
}
