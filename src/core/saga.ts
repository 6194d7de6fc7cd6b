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
 */
import {
  type AckInput,
  ackable,
  ackEvent,
  decided,
  decisionEffects,
  decisionTargets,
  groupByParticipant,
  prepareEffects,
  tally,
  toldAgain,
  type VoteInput,
  voteEvent,
  type WaitingInput,
  waitingEvent,
  withoutWait,
  withoutWaits,
  withVote,
  withWait,
} from "./atomic-group.ts";
import { backoffMs } from "./backoff.ts";
import type { Reason } from "./reasons.ts";
import { type Step as AnyStep, appendEvents, type Effect, type Policy, unchanged } from "./step.ts";
import {
  type AtomicGroup,
  type AtomicParticipant,
  type BranchSpec,
  type Decision,
  isFinal,
  type SagaRecord,
  type SagaStage,
  type SagaState,
  type SagaStep,
  type SagaStepKind,
  type StepOutcome,
  type TxEvent,
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

// ---------------------------------------------------------------------------
// Plan: the request's branches as ordered stages.

export interface PlanIssue {
  /** Where in the request: `["branches", 2, "stage"]`, `["atomicStages", 0]`. */
  readonly path: readonly (string | number)[];
  readonly message: string;
}

export type Plan =
  | { readonly ok: true; readonly stages: readonly SagaStage[] }
  | { readonly ok: false; readonly issues: readonly PlanIssue[] };

/** Without `stage`, a branch is a stage of its own: they run one after another in list order. */
export const stageNumberOf = (branch: BranchSpec, index: number): number => branch.stage ?? index;

/**
 * Checks the rules a saga request must follow and orders its stages. A
 * participant may be in one atomic stage only: its 2PC barrier is keyed by the
 * transaction, so two groups would share it.
 */
export function planStages(branches: readonly BranchSpec[], atomicStages: readonly number[]): Plan {
  const issues: PlanIssue[] = [];
  const staged = branches.filter((b) => b.stage !== undefined).length;
  branches.forEach((b, i) => {
    if (staged > 0 && b.stage === undefined) {
      issues.push({
        path: ["branches", i, "stage"],
        message: "either every branch of a saga has a stage or none has",
      });
    }
    if (b.compensation === undefined) {
      issues.push({
        path: ["branches", i, "compensation"],
        message: "every saga branch needs a compensation",
      });
    }
  });
  const byStage = new Map<number, number[]>();
  branches.forEach((b, i) => {
    const n = stageNumberOf(b, i);
    byStage.set(n, [...(byStage.get(n) ?? []), i]);
  });
  const atomic = new Set<number>();
  const atomicStageOf = new Map<string, number>();
  for (const [j, n] of atomicStages.entries()) {
    const path = ["atomicStages", j];
    const members = byStage.get(n);
    if (atomic.has(n) || !members) {
      issues.push({ path, message: members ? `stage ${n} is listed twice` : `no branch is in stage ${n}` });
      continue;
    }
    atomic.add(n);
    for (const i of members) {
      const name = branches[i]?.participant ?? "";
      const other = atomicStageOf.get(name);
      if (other !== undefined && other !== n) {
        issues.push({
          path,
          message: `participant "${name}" is in atomic stages ${other} and ${n}; it may be in one atomic stage of a saga`,
        });
      }
      atomicStageOf.set(name, other ?? n);
    }
  }
  if (issues.length > 0) return { ok: false, issues };
  const stages = [...byStage]
    .sort(([a], [b]) => a - b)
    .map(([stage, members]): SagaStage => {
      if (!atomic.has(stage)) return { stage, branches: members };
      const participants = groupByParticipant(branches, members).map((p) => ({ ...p, attempts: 0 }));
      return { stage, branches: members, atomic: { participants } };
    });
  return { ok: true, stages };
}

/** The request broke a rule `planStages` checks: the caller skipped validation. */
export class InvalidSagaError extends Error {
  override name = "InvalidSagaError";
  constructor(readonly issues: readonly PlanIssue[]) {
    super(`invalid saga: ${issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  }
}

// ---------------------------------------------------------------------------
// A transition's work in progress.

/**
 * The record so far and what the transition asks for. Mutated only inside one
 * transition, which returns it as an immutable step through `finish`.
 */
interface Draft {
  tx: SagaRecord;
  readonly effects: Effect[];
  readonly events: TxEvent[];
  readonly now: number;
  readonly policy: Policy;
}

const draftOf = (tx: SagaRecord, now: number, policy: Policy): Draft => ({
  tx,
  effects: [],
  events: [],
  now,
  policy,
});

function finish(d: Draft): Step {
  return {
    next: appendEvents(schedule(d.tx), d.events, d.policy.maxEvents),
    effects: d.effects,
    changed: true,
  };
}

const event = (d: Draft, e: Omit<TxEvent, "at">) => d.events.push({ at: d.now, ...e });

function setStep(d: Draft, branch: number, step: SagaStep): void {
  d.tx = { ...d.tx, steps: d.tx.steps.with(branch, step) };
}

function setGroup(d: Draft, index: number, group: AtomicGroup): void {
  const stage = d.tx.stages[index];
  if (stage) d.tx = { ...d.tx, stages: d.tx.stages.with(index, { ...stage, atomic: group }) };
}

function setParticipant(d: Draft, index: number, p: AtomicParticipant): void {
  const group = d.tx.stages[index]?.atomic;
  if (!group) return;
  const participants = group.participants.map((q) => (q.name === p.name ? p : q));
  setGroup(d, index, { ...group, participants });
}

const participantOf = (tx: SagaRecord, branch: number): string => tx.branches[branch]?.participant ?? "";

const withoutDue = ({ dueAt: _dueAt, ...rest }: AtomicParticipant): AtomicParticipant => rest;

/** The record's due time and attempts, from every message it waits on. */
function schedule(tx: SagaRecord): SagaRecord {
  const { dueAt: _dueAt, ...rest } = tx;
  let dueAt = tx.state === "running" ? tx.deadline : Number.POSITIVE_INFINITY;
  let attempts = 0;
  const consider = (unit: { readonly attempts: number; readonly dueAt?: number }) => {
    if (unit.dueAt === undefined) return;
    dueAt = Math.min(dueAt, unit.dueAt);
    attempts = Math.max(attempts, unit.attempts);
  };
  for (const step of tx.steps)
    if (step.status === "running" || step.status === "compensating") consider(step);
  for (const stage of tx.stages) for (const p of stage.atomic?.participants ?? []) consider(p);
  if (isFinal(tx.state) || dueAt === Number.POSITIVE_INFINITY) return { ...rest, attempts };
  return { ...rest, attempts, dueAt };
}

// ---------------------------------------------------------------------------
// Moving on: stages forward, compensations backward, completion.

function startStage(d: Draft, index: number): void {
  const stage = d.tx.stages[index];
  if (!stage) return;
  const { now, policy } = d;
  d.tx = { ...d.tx, current: index };
  event(d, { type: "stage_started", stage: stage.stage, branches: stage.branches });
  if (stage.atomic) {
    const participants = stage.atomic.participants.map((p) => ({
      ...p,
      attempts: 0,
      dueAt: now + policy.prepareRetryMs,
    }));
    setGroup(d, index, { ...stage.atomic, participants });
    const names = participants.map((p) => p.name);
    event(d, { type: "prepare_sent", stage: stage.stage, participants: names });
    d.effects.push(...prepareEffects(names));
    return;
  }
  for (const b of stage.branches) {
    setStep(d, b, { status: "running", attempts: 0, dueAt: now + policy.prepareRetryMs });
  }
  event(d, { type: "action_sent", stage: stage.stage, branches: stage.branches });
  d.effects.push(
    ...stage.branches.map((branch) => ({
      kind: "action" as const,
      participant: participantOf(d.tx, branch),
      branch,
    })),
  );
}

function stageSucceeded(tx: SagaRecord, index: number): boolean {
  const stage = tx.stages[index];
  if (!stage) return false;
  if (stage.atomic) return stage.atomic.decision === "commit";
  return stage.branches.every((b) => tx.steps[b]?.status === "done");
}

/** Every decided atomic group is acknowledged by all who had to hear it. */
const groupsSettled = (tx: SagaRecord): boolean =>
  tx.stages.every((s) => s.atomic?.decision === undefined || s.atomic.participants.every((p) => p.acked));

/** The branch's action was attempted (or its atomic group committed) and is not undone yet. */
const owesCompensation = (step: SagaStep | undefined): boolean =>
  step !== undefined && step.status !== "pending" && step.status !== "compensated";

function decideGroup(d: Draft, index: number, decision: Decision, reason?: Reason): void {
  const stage = d.tx.stages[index];
  if (!stage?.atomic) return;
  const { now, policy } = d;
  // Those that hear the decision get it on a fresh schedule; the others are owed nothing.
  const participants = decided(stage.atomic.participants, decision).map(
    (p): AtomicParticipant =>
      p.acked ? withoutDue(p) : { ...p, attempts: 0, dueAt: now + policy.decisionRetryMs },
  );
  setGroup(d, index, { participants, decision, decidedAt: now });
  // Only the open atomic stage can wait for locks: once it is decided, nothing waits.
  d.tx = withoutWaits(d.tx);
  event(d, {
    type: "stage_decision",
    stage: stage.stage,
    decision,
    ...(reason !== undefined ? { reason } : {}),
  });
  const targets = decisionTargets(participants);
  if (targets.length > 0) {
    event(d, { type: "decision_sent", stage: stage.stage, decision, participants: targets });
    d.effects.push(...decisionEffects(targets, decision));
  }
  if (decision === "commit") for (const b of stage.branches) setStep(d, b, { status: "done", attempts: 0 });
}

/**
 * The abort decision: undo everything attempted. The open atomic group, if
 * undecided, is rolled back (never compensated: it applied nothing).
 */
function startCompensation(d: Draft, reason: Reason, failedBranch?: number): void {
  d.tx = {
    ...withoutWaits(d.tx),
    state: "compensating",
    decidedAt: d.now,
    reason,
    ...(failedBranch !== undefined ? { failedBranch } : {}),
  };
  event(d, { type: "decision", decision: "abort", reason });
  const open = d.tx.stages[d.tx.current];
  if (open?.atomic && open.atomic.decision === undefined) decideGroup(d, d.tx.current, "abort", reason);
  settle(d);
}

/**
 * Sends the compensations of the latest stage that still owes some; earlier
 * stages wait until it is undone. An atomic stage's branch is undone only once
 * its participant acknowledged the commit: a compensation must not overtake the
 * COMMIT that applies what it undoes.
 */
function compensateNext(d: Draft): void {
  for (let i = d.tx.current; i >= 0; i--) {
    const stage = d.tx.stages[i];
    if (!stage) continue;
    const owed = stage.branches.filter((b) => owesCompensation(d.tx.steps[b]));
    if (owed.length === 0) continue;
    const applied = new Set(stage.atomic?.participants.filter((p) => p.acked).map((p) => p.name));
    const ready = owed.filter(
      (b) =>
        d.tx.steps[b]?.status !== "compensating" &&
        (stage.atomic === undefined || applied.has(participantOf(d.tx, b))),
    );
    if (ready.length === 0) return;
    for (const b of ready) {
      const before = d.tx.steps[b];
      // A failed action stays known as failed: its compensation undoes nothing.
      const actionFailed = before?.status === "failed" ? (before.reason ?? "action_failed") : undefined;
      setStep(d, b, {
        status: "compensating",
        attempts: 0,
        dueAt: d.now + d.policy.decisionRetryMs,
        ...(actionFailed !== undefined ? { actionFailed } : {}),
      });
    }
    event(d, { type: "compensation_sent", stage: stage.stage, branches: ready });
    d.effects.push(
      ...ready.map((branch) => ({
        kind: "compensate" as const,
        participant: participantOf(d.tx, branch),
        branch,
      })),
    );
    return;
  }
}

function complete(d: Draft, state: Extract<SagaState, "committed" | "compensated">): void {
  d.tx = { ...d.tx, state, completedAt: d.now };
  event(d, { type: "completed" });
}

/** After any change: start what can start, finish what is finished. */
function settle(d: Draft): void {
  if (d.tx.state === "running") {
    if (!stageSucceeded(d.tx, d.tx.current)) return;
    if (d.tx.current + 1 < d.tx.stages.length) {
      startStage(d, d.tx.current + 1);
      return;
    }
    // Every stage succeeded: that is the saga's commit.
    d.tx = { ...d.tx, state: "committing", decidedAt: d.now };
    event(d, { type: "decision", decision: "commit" });
  }
  if (d.tx.state === "committing") {
    if (groupsSettled(d.tx)) complete(d, "committed");
    return;
  }
  if (d.tx.state === "compensating") {
    compensateNext(d);
    if (groupsSettled(d.tx) && !d.tx.steps.some(owesCompensation)) complete(d, "compensated");
  }
}

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

/** The atomic stage a participant belongs to, if it is in one. */
function locate(tx: SagaRecord, participant: string) {
  for (const [index, stage] of tx.stages.entries()) {
    const p = stage.atomic?.participants.find((q) => q.name === participant);
    if (stage.atomic && p) return { index, stage, group: stage.atomic, p };
  }
  return undefined;
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
  // It holds its PREPARE (re-queued, delayed), so its next copy waits for the
  // waiting interval; but that copy may be lost, so a copy still comes.
  const dueAt = Math.max(at.p.dueAt ?? 0, now + policy.waitingRetryMs);
  setParticipant(d, at.index, { ...at.p, dueAt });
  event(d, waitingEvent(waiting, { stage: at.stage.stage }));
  return finish(d);
}

type Resend = "due" | "all";

/**
 * Sends again what the saga waits on: with `due`, what is due at `now`, with the
 * backoff growing; with `all` (an operator's retry), everything outstanding, with
 * the backoff starting over. Returns whether anything went out.
 */
function resend(d: Draft, which: Resend): boolean {
  const { now, policy } = d;
  const pick = (dueAt: number | undefined) => dueAt !== undefined && (which === "all" || dueAt <= now);
  const next = (attempts: number) => (which === "all" ? 0 : attempts + 1);
  const delay = (base: number, attempts: number) =>
    which === "all" ? base : backoffMs(base, attempts, policy.backoffCapMs);
  // One event per kind, stage and attempt, however many messages it covers.
  const grouped = new Map<string, { e: Omit<TxEvent, "at">; branches: number[]; participants: string[] }>();
  const note = (e: Omit<TxEvent, "at">, member: { branch: number } | { participant: string }) => {
    const key = `${e.type}:${e.stage}:${e.attempt}`;
    const entry = grouped.get(key) ?? { e, branches: [], participants: [] };
    if ("branch" in member) entry.branches.push(member.branch);
    else entry.participants.push(member.participant);
    grouped.set(key, entry);
  };
  let sent = false;
  for (const [branch, step] of d.tx.steps.entries()) {
    if (step.status !== "running" && step.status !== "compensating") continue;
    if (!pick(step.dueAt)) continue;
    const action = step.status === "running";
    const attempts = next(step.attempts);
    const base = action ? policy.prepareRetryMs : policy.decisionRetryMs;
    setStep(d, branch, { ...step, attempts, dueAt: now + delay(base, attempts) });
    const participant = participantOf(d.tx, branch);
    d.effects.push(
      action ? { kind: "action", participant, branch } : { kind: "compensate", participant, branch },
    );
    sent = true;
    if (which === "all") {
      note({ type: "retry_requested" }, { branch });
      continue;
    }
    note({ type: action ? "action_resent" : "compensation_resent", attempt: attempts }, { branch });
    if (!action && attempts === policy.stalledAfterAttempts) {
      note({ type: "compensation_stalled", attempt: attempts }, { branch });
    }
  }
  for (const [index, stage] of d.tx.stages.entries()) {
    const group = stage.atomic;
    if (!group) continue;
    for (const p of group.participants) {
      if (!pick(p.dueAt)) continue;
      const attempts = next(p.attempts);
      const decision = group.decision;
      const base = decision === undefined ? policy.prepareRetryMs : policy.decisionRetryMs;
      // A waiter holds a copy of its PREPARE: more come no sooner than the waiting interval.
      const waits = decision === undefined && d.tx.waits?.[p.name] !== undefined;
      const after = waits ? Math.max(delay(base, attempts), policy.waitingRetryMs) : delay(base, attempts);
      setParticipant(d, index, { ...p, attempts, dueAt: now + after });
      d.effects.push(
        decision === undefined
          ? { kind: "prepare", participant: p.name }
          : { kind: "decision", participant: p.name, decision },
      );
      sent = true;
      if (which === "all") {
        note({ type: "retry_requested" }, { participant: p.name });
        continue;
      }
      const about = {
        stage: stage.stage,
        attempt: attempts,
        ...(decision !== undefined ? { decision } : {}),
      };
      note(
        { type: decision === undefined ? "prepare_resent" : "decision_resent", ...about },
        { participant: p.name },
      );
      if (decision !== undefined && attempts === policy.stalledAfterAttempts) {
        note({ type: "decision_stalled", ...about }, { participant: p.name });
      }
    }
  }
  for (const { e, branches, participants } of grouped.values()) {
    event(d, {
      ...e,
      ...(branches.length > 0 ? { branches } : {}),
      ...(participants.length > 0 ? { participants } : {}),
    });
  }
  return sent;
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
