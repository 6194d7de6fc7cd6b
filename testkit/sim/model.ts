/** What a simulated run is given, what it reports, and what its parts share. */
import type { BeginRequest } from "../../src/coordinator/begin-transaction.ts";
import type { LockPolicy } from "../../src/core/lock-policy.ts";
import type { CoordinatorMessage, ParticipantMessage } from "../../src/core/messages.ts";
import type { Policy } from "../../src/core/two-phase-commit.ts";
import type { Status } from "../../src/core/view.ts";
import type { CrashPoint } from "../../src/crash-points.ts";
import type { LockMode } from "../../src/participant-kit/lock-mode.ts";
import type { BankStore } from "../../src/participants/bank/bank-store.ts";
import { INVARIANTS as STATE_INVARIANTS } from "../invariants/snapshot.ts";
import type { Mutant } from "./mutants.ts";

/** A process dying at a crash point: whatever the step would have done after it is lost. */
export class SimulatedCrash extends Error {
  override name = "SimulatedCrash";
  constructor(readonly point: SimCrashPoint) {
    super(`simulated crash at ${point}`);
  }
}

/** The named crash points, right after any durable store write, and the dispatcher's after its call. */
export type SimCrashPoint = CrashPoint | "after-store-write" | "after-http-call";

/** A send that failed after the SDK's retries. */
export class SimulatedSendFailure extends Error {
  override name = "SimulatedSendFailure";
}

/**
 * A transaction-store call of a participant's direct answer that failed after the
 * SDK's retries (throttled, unavailable), before or after its write was durable.
 * The direct inbox must send the answer through the coordinator queue instead: it
 * is not a fault a handler may let through (not in isSimulatedFault).
 */
export class SimulatedStoreFailure extends Error {
  override name = "SimulatedStoreFailure";
}

export const isSimulatedFault = (err: unknown) =>
  err instanceof SimulatedCrash || err instanceof SimulatedSendFailure;

export interface SimulationOptions {
  readonly seed: number;
  /** Record every step (slower); a failing seed is replayed with it on. */
  readonly trace?: boolean;
  /** Transactions started during the faults phase; drawn from the seed when absent. */
  readonly transfers?: number;
  /** The share of those transactions that are sagas (the rest are 2PC transfers); 0.3 by default. */
  readonly sagaShare?: number;
  readonly mutant?: Mutant;
  /** Every seed under this lock policy instead of the one it draws (the other draws stay the same). */
  readonly lockPolicy?: LockPolicy;
  /** One lock mode for the run instead of the one drawn from the seed. */
  readonly lockMode?: LockMode;
  /** Wraps the bank store: another way to break it on purpose. */
  readonly wrapBankStore?: (store: BankStore) => BankStore;
  /**
   * Transactions name an HTTP participant too, served by the real dispatcher over a
   * simulated service and network; on by default. Off, a seed runs as it did before
   * HTTP participants were simulated (no draw is taken for them).
   */
  readonly httpParticipants?: boolean;
  /**
   * Runs the barrier-expiry clock in this seed whatever its draw (one seed in
   * four draws it): long pauses while compensations are blocked, TTL deletion
   * of barriers and records, ids used again after their record expired.
   */
  readonly expiry?: boolean;
  /**
   * Participants' answers applied directly by the coordinator's handling in the
   * answering handler (the coordinator queue as the fallback), or always through
   * the queue; drawn per seed when absent (direct in three seeds in four).
   */
  readonly directAnswers?: boolean;
  /**
   * With direct answers, what the coordinator's handling sends the answering
   * participant itself is handled in its handler (self-delivery), or sent through
   * its queue; drawn per seed when absent (in three seeds with direct answers in four).
   */
  readonly selfDelivery?: boolean;
  /**
   * With direct answers, a participant's yes vote is written with the prepare it
   * stands on (a blind prepare's); drawn per seed when absent (in three seeds
   * with direct answers in four).
   */
  readonly voteWithPrepare?: boolean;
}

export const INVARIANTS = [
  ...STATE_INVARIANTS,
  "decision-stable",
  "deadlock-victim",
  "client-outcome-stable",
  "unexpected-error",
] as const;
export type Invariant = (typeof INVARIANTS)[number];

export interface Violation {
  readonly invariant: Invariant;
  readonly detail: string;
}

export interface SimulationResult {
  readonly seed: number;
  readonly violation?: Violation;
  readonly transactions: number;
  readonly committed: number;
  /** Of the transactions, how many were sagas, and how many of those were compensated. */
  readonly sagas: number;
  readonly compensated: number;
  /** Transactions the sweeper aborted to break a deadlock (the detect lock policy). */
  readonly deadlocks: number;
  /**
   * One-phase transactions: how many committed, how many aborted, and how many
   * of them reached the deadline (or an operator's abort) undecided and asked their participant.
   */
  readonly onePhase: { readonly committed: number; readonly aborted: number; readonly asked: number };
  /** Restarts of 2PC transactions that died for contention (wait-die) or broke a deadlock. */
  readonly restarts: number;
  /** `released` messages: a waiter woken by the release of the lock it waited for. */
  readonly wakeUps: number;
  /** Last voters' commits written with the decision they made (ports/alongside.ts). */
  readonly ownCommits: number;
  /** Votes written with their prepare (`prepared`), or with their branches applied at once (`committed`). */
  readonly votesWithPrepare: { readonly prepared: number; readonly committed: number };
  readonly steps: number;
  /** The faults drawn for this seed. */
  readonly faults: FaultModel;
  /** Every step, when `trace` was on. */
  readonly trace: readonly string[];
  /** The expiry clock: pauses longer than the retention, and ids used again after their record expired. */
  readonly pauses: number;
  readonly reusedIds: number;
}

export interface FaultModel {
  readonly servers: number;
  readonly lockPolicy: LockPolicy;
  /** Reservations (escrow) or exclusive locks for the bank's balances. */
  readonly lockMode: LockMode;
  readonly dropRate: number;
  readonly duplicateRate: number;
  readonly crashRate: number;
  readonly sendFailRate: number;
  /** The share of calls to the HTTP participant the network spoils (0 without one). */
  readonly httpFaultRate: number;
  /** The barrier-expiry clock runs in this seed. */
  readonly expiry: boolean;
  /** Answers go direct (the queue the fallback), or all through the coordinator queue. */
  readonly directAnswers: boolean;
  /** The share of a direct answer's store calls that fail, before or after their write. */
  readonly directFailRate: number;
  /** Messages to the answering participant itself are handled in its handler (direct answers only). */
  readonly selfDelivery: boolean;
  /** The share of those whose handling there fails, so that they go through the queue. */
  readonly selfFailRate: number;
  /** A yes vote written with its prepare (direct answers only). */
  readonly voteWithPrepare: boolean;
}

export interface Envelope {
  readonly seq: number;
  readonly sentAt: number;
  /** "coordinator" or a participant's name. */
  readonly to: string;
  readonly body: CoordinatorMessage | ParticipantMessage;
  visibleAt: number;
}

export interface ClientTx {
  readonly id: string;
  readonly request: BeginRequest;
  /** The outcome the client was told last, once it was not pending. */
  told?: Status;
  /** The begin call crashed before answering: the client will retry it. */
  unanswered: boolean;
  /** Its record expired (the TTL deleted it): the client asks no more, and the id may serve again. */
  expired?: boolean;
}

/** Thrown out of the run when a violation is seen; carries it to the top. */
export class ViolationFound extends Error {
  constructor(readonly violation: Violation) {
    super(`${violation.invariant}: ${violation.detail}`);
  }
}

export const START = 1_700_000_000_000;
export const DEFAULT_SAGA_SHARE = 0.3;
export const POLICY: Policy = {
  prepareRetryMs: 1_000,
  decisionRetryMs: 1_000,
  waitingRetryMs: 4_000,
  backoffCapMs: 4_000,
  stalledAfterAttempts: 10,
  maxEvents: 100,
};
export const IN_DOUBT_AFTER_MS = 3_000;
/** The simulated HTTP participant, and the dispatcher's per-call limit. */
export const HTTP_PARTICIPANT = "ext";
export const HTTP_TIMEOUT_MS = 3_000;
export const QUIET_STEP_LIMIT = 50_000;
/**
 * The expiry clock, scaled down as config.ts requires it at full scale: SQS keeps
 * a message at most MESSAGE_RETENTION_MS, and a final barrier or record is kept
 * RETENTION_SECONDS, more than the longest timeout (20 s) plus that.
 */
export const MESSAGE_RETENTION_MS = 30_000;
export const RETENTION_SECONDS = 60;
export const RETENTION_MS = RETENTION_SECONDS * 1_000;
/** A long pause advances the clock in steps of the re-send backoff's cap: every re-send still happens on time. */
export const PAUSE_STEP_MS = POLICY.backoffCapMs;
export const PAUSE_DELIVERIES_PER_STEP = 200;

export const describe = (m: CoordinatorMessage | ParticipantMessage): string => {
  switch (m.type) {
    case "vote":
      return `vote(${m.vote}${m.reason ? `:${m.reason}` : ""}${m.inquiry ? ",inquiry" : ""}) ${m.txId} from ${m.participant}`;
    case "ack":
      return `ack(${m.decision}) ${m.txId} from ${m.participant}`;
    case "waiting":
      return `waiting ${m.txId} at ${m.participant} for ${m.holder}`;
    case "prepare":
      return `prepare ${m.txId} to ${m.participant}${m.waits ? ` (wait ${m.waits})` : ""}`;
    case "result":
      return `result(${m.step} ${m.outcome}${m.reason ? `:${m.reason}` : ""}) ${m.txId}#${m.branch} from ${m.participant}`;
    case "action":
      return `action ${m.txId}#${m.branch} ${m.action} to ${m.participant}`;
    case "compensate":
      return `compensate ${m.txId}#${m.branch} ${m.action}${m.atomic ? " (atomic)" : ""} to ${m.participant}`;
    default:
      return `${m.type} ${m.txId} to ${m.participant}`;
  }
};

/** What every part of a run reads and moves: the clock, the step, whether faults are on, the first violation. */
export interface SimState {
  now: number;
  step: number;
  /** Faults are drawn (the faults phase); off in the quiet phase and through a long pause. */
  faulty: boolean;
  /** The service compensations need is down (a long pause). */
  compensationsBlocked: boolean;
  violation: Violation | undefined;
  /** Adds a line to the trace, when tracing. */
  readonly note: (line: () => string) => void;
  /** Records the first violation seen. */
  readonly violate: (invariant: Invariant, detail: string) => void;
  /** Ends the run once a violation was seen. */
  readonly stopIfViolated: () => void;
}
