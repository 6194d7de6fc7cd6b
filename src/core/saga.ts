/**
 * Sagas as pure transitions: stages run in ascending order, a stage's branches in
 * parallel; a failure (a failed action, a no vote in an atomic stage, the
 * deadline, an operator) compensates every attempted branch in reverse stage
 * order. An atomic stage runs as a 2PC group inside the saga. Like the 2PC core,
 * each function returns the next record and the messages to send once it is
 * durable; nothing here does I/O.
 *
 * Every message the coordinator waits on has its own re-send schedule (a
 * branch's action or compensation, an atomic participant's PREPARE or decision);
 * the record's `dueAt` is the earliest of them (and the deadline while running).
 *
 * This file holds the transitions; their parts are in `saga/`: `plan.ts` (the
 * request as stages), `draft.ts` (a transition's work in progress), `forward.ts`
 * (starting stages, deciding an atomic one), `backward.ts` (compensations),
 * `settle.ts` (the saga's commit, abort and completion: where it becomes final)
 * and `resend.ts`.
 */
import {
  type AckInput,
  ackable,
  ackEvent,
  prepareEffects,
  tally,
  toldAgain,
  type VoteInput,
  voteEvent,
  type WaitingInput,
  waitingEvent,
  withoutWait,
  withVote,
  withWait,
} from "./atomic-group.ts";
import type { Reason } from "./reasons.ts";
import {
  draftOf,
  event,
  finish,
  locate,
  participantOf,
  schedule,
  setParticipant,
  setStep,
  withoutDue,
} from "./saga/draft.ts";
import { decideGroup, startStage } from "./saga/forward.ts";
import { InvalidSagaError, planStages } from "./saga/plan.ts";
import { resend } from "./saga/resend.ts";
import { settle, startCompensation } from "./saga/settle.ts";
import type { Step as AnyStep, Policy } from "./step.ts";
import { unchanged } from "./step.ts";
import {
  type BranchSpec,
  isFinal,
  type SagaRecord,
  type SagaState,
  type SagaStepKind,
  type StepOutcome,
} from "./transaction.ts";

export type Step = AnyStep<SagaRecord>;

export interface SagaBeginInput {
  readonly id: string;
  readonly branches: readonly BranchSpec[];
  /** Stage numbers whose branches run as one 2PC group. */
  readonly atomicStages: readonly number[];
  readonly timeoutMs: number;
  readonly requestHash: string;
}

export interface ResultInput {
  readonly participant: string;
  readonly branch: number;
  readonly step: SagaStepKind;
  readonly outcome: StepOutcome;
  readonly reason?: Reason;
}

export { InvalidSagaError, type Plan, type PlanIssue, planStages, stageNumberOf } from "./saga/plan.ts";

// ---------------------------------------------------------------------------
// Transitions.

export function begin(input: SagaBeginInput, now: number, policy: Policy): Step {
  const plan = planStages(input.branches, input.atomicStages);
  if (!plan.ok) throw new InvalidSagaError(plan.issues);
  const tx: SagaRecord = {
    id: input.id,
    protocol: "saga",
    state: "running",
    createdAt: now,
    timeoutMs: input.timeoutMs,
    deadline: now + input.timeoutMs,
    branches: input.branches,
    stages: plan.stages,
    current: 0,
    steps: input.branches.map(() => ({ status: "pending" })),
    events: [],
    eventsDropped: 0,
    attempts: 0,
    requestHash: input.requestHash,
    version: 1,
  };
  const d = draftOf(tx, now, policy);
  event(d, { type: "created" });
  startStage(d, 0);
  return finish(d);
}

export function onResult(tx: SagaRecord, result: ResultInput, now: number, policy: Policy): Step {
  const step = tx.steps[result.branch];
  if (!step || participantOf(tx, result.branch) !== result.participant) return unchanged(tx);
  // A result for a step that is not out now is late or duplicated: the branch has
  // moved on. A late `done` for an action whose compensation is out changes
  // nothing: that compensation undoes it.
  if (step.status !== "running" && step.status !== "compensating") return unchanged(tx);
  if (step.status !== (result.step === "action" ? "running" : "compensating")) return unchanged(tx);
  const d = draftOf(tx, now, policy);
  const reason = result.reason;
  const recorded = {
    type: "step_result" as const,
    branch: result.branch,
    participant: result.participant,
    step: result.step,
    outcome: result.outcome,
    ...(reason !== undefined ? { reason } : {}),
  };
  // Compensations are retried until they succeed: a failed one is a transient failure.
  const outcome = result.step === "compensation" && result.outcome === "failed" ? "retry" : result.outcome;
  switch (outcome) {
    case "done":
      setStep(d, result.branch, {
        status: result.step === "action" ? "done" : "compensated",
        attempts: step.attempts,
        ...(step.actionFailed !== undefined ? { actionFailed: step.actionFailed } : {}),
      });
      event(d, recorded);
      settle(d);
      break;
    case "failed":
      setStep(d, result.branch, {
        status: "failed",
        attempts: step.attempts,
        ...(reason !== undefined ? { reason } : {}),
      });
      event(d, recorded);
      startCompensation(d, reason ?? "action_failed", result.branch);
      break;
    case "retry": {
      // The step goes out again at its due time; a repeat of the same news changes nothing.
      const said: Reason = reason ?? (result.outcome === "failed" ? "failed" : "retry");
      if (step.reason === said) return unchanged(tx);
      setStep(d, result.branch, { ...step, reason: said });
      event(d, recorded);
      break;
    }
  }
  return finish(d);
}

export function onVote(tx: SagaRecord, vote: VoteInput, now: number, policy: Policy): Step {
  const at = locate(tx, vote.participant);
  if (!at || at.index > tx.current) return unchanged(tx);
  const { group, p } = at;
  if (group.decision !== undefined) return unchanged(tx, toldAgain(vote, group.decision));
  if (p.vote !== undefined || tx.state !== "running") return unchanged(tx);
  const d = draftOf(withoutWait(tx, p.name), now, policy);
  setParticipant(d, at.index, withVote(withoutDue(p), vote));
  event(d, voteEvent(vote, { stage: at.stage.stage }));
  switch (tally(d.tx.stages[at.index]?.atomic?.participants ?? [], vote)) {
    case "abort":
      // A no in an atomic stage is the saga's failure: undo what it did.
      startCompensation(d, vote.reason ?? "vote_no");
      break;
    case "commit":
      decideGroup(d, at.index, "commit");
      settle(d);
      break;
    case undefined:
      break;
  }
  return finish(d);
}

export function onAck(tx: SagaRecord, ack: AckInput, now: number, policy: Policy): Step {
  const at = locate(tx, ack.participant);
  if (!at || ackable(at.group.participants, at.group.decision, ack) === undefined) return unchanged(tx);
  const d = draftOf(tx, now, policy);
  setParticipant(d, at.index, { ...withoutDue(at.p), acked: true });
  event(d, ackEvent(ack, { stage: at.stage.stage }));
  settle(d);
  return finish(d);
}

/** A participant of the open atomic stage waits for another transaction's lock. */
export function onWaiting(tx: SagaRecord, waiting: WaitingInput, now: number, policy: Policy): Step {
  if (tx.state !== "running") return unchanged(tx);
  const at = locate(tx, waiting.participant);
  if (!at || at.index !== tx.current || at.group.decision !== undefined || at.p.vote !== undefined) {
    return unchanged(tx);
  }
  const waits = withWait(tx, waiting);
  if (!waits) return unchanged(tx);
  const d = draftOf(waits, now, policy);
  // It is registered on the lock and woken by its release, so its next copy waits
  // for the waiting interval; but the wake-up may be lost, so a copy still comes.
  const dueAt = Math.max(at.p.dueAt ?? 0, now + policy.waitingRetryMs);
  setParticipant(d, at.index, { ...at.p, dueAt });
  event(d, waitingEvent(waiting, { stage: at.stage.stage }));
  return finish(d);
}

/** A lock the open atomic stage's participant waited for was released: its PREPARE goes again now. */
export function onReleased(tx: SagaRecord, released: WaitingInput): Step {
  if (tx.state !== "running") return unchanged(tx);
  const at = locate(tx, released.participant);
  if (!at || at.index !== tx.current || at.group.decision !== undefined || at.p.vote !== undefined) {
    return unchanged(tx);
  }
  const effects = prepareEffects([released.participant]);
  if (tx.waits?.[released.participant] !== released.holder) return unchanged(tx, effects);
  return { next: withoutWait(tx, released.participant), effects, changed: true };
}

/** What the sweeper does with a saga whose due time has come. */
export function onSweep(tx: SagaRecord, now: number, policy: Policy): Step {
  if (tx.dueAt === undefined || tx.dueAt > now) return unchanged(tx);
  const d = draftOf(tx, now, policy);
  if (tx.state === "running" && now >= tx.deadline) {
    startCompensation(d, "timeout");
    return finish(d);
  }
  if (resend(d, "due")) return finish(d);
  // Due, yet nothing to send: only the due time moves.
  const next = schedule(tx);
  return next.dueAt === tx.dueAt ? unchanged(tx) : { next, effects: [], changed: true };
}

export type AbortRequest = Step | { readonly rejected: "already_decided"; readonly state: SagaState };

/** An operator's (or the deadlock breaker's) abort: only a saga still running forward can be. */
export function requestAbort(tx: SagaRecord, reason: Reason, now: number, policy: Policy): AbortRequest {
  if (tx.state !== "running") return { rejected: "already_decided", state: tx.state };
  const d = draftOf(tx, now, policy);
  event(d, { type: "abort_requested", reason });
  startCompensation(d, reason);
  return finish(d);
}

export type RetryRequest = Step | { readonly rejected: "final"; readonly state: SagaState };

/**
 * An operator's retry: send now everything the saga waits on, and start every
 * backoff over (due one base interval from now, as after a first send).
 */
export function requestRetry(tx: SagaRecord, now: number, policy: Policy): RetryRequest {
  if (isFinal(tx.state)) return { rejected: "final", state: tx.state };
  const d = draftOf(tx, now, policy);
  if (tx.state === "running" && now >= tx.deadline) {
    // Past the deadline no action may start any more: do what the next sweep would.
    event(d, { type: "retry_requested" });
    startCompensation(d, "timeout");
    return finish(d);
  }
  if (!resend(d, "all")) event(d, { type: "retry_requested" });
  return finish(d);
}

/** Whether a write moves the saga past a decision: its outcome, or an atomic stage's. */
export function decides(before: SagaRecord, after: SagaRecord): boolean {
  if (before.state === "running" && after.state !== "running") return true;
  return after.stages.some(
    (s, i) => s.atomic?.decision !== undefined && before.stages[i]?.atomic?.decision === undefined,
  );
}

/** What has been sent at least `stalledAfterAttempts` times without an answer. */
export function stalled(tx: SagaRecord, policy: Policy): { compensations: number[]; decisions: string[] } {
  const compensations = tx.steps.flatMap((s, i) =>
    s.status === "compensating" && s.attempts >= policy.stalledAfterAttempts ? [i] : [],
  );
  const decisions = tx.stages.flatMap((s) =>
    s.atomic?.decision === undefined
      ? []
      : s.atomic.participants
          .filter((p) => !p.acked && p.attempts >= policy.stalledAfterAttempts)
          .map((p) => p.name),
  );
  return { compensations, decisions };
}
