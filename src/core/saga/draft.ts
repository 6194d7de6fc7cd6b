/**
 * A saga transition's work in progress: the record so far, the events it adds
 * and the messages it asks for, with the setters every part of the saga uses.
 */
import { appendEvents, type Effect, type Policy, type Step } from "../step.ts";
import {
  type AtomicGroup,
  type AtomicParticipant,
  isFinal,
  type SagaRecord,
  type SagaStep,
  type TxEvent,
} from "../transaction.ts";

/**
 * The record so far and what the transition asks for. Mutated only inside one
 * transition, which returns it as an immutable step through `finish`.
 */
export interface Draft {
  tx: SagaRecord;
  readonly effects: Effect[];
  readonly events: TxEvent[];
  readonly now: number;
  readonly policy: Policy;
}

export const draftOf = (tx: SagaRecord, now: number, policy: Policy): Draft => ({
  tx,
  effects: [],
  events: [],
  now,
  policy,
});

export function finish(d: Draft): Step<SagaRecord> {
  return {
    next: appendEvents(schedule(d.tx), d.events, d.policy.maxEvents),
    effects: d.effects,
    changed: true,
  };
}

export const event = (d: Draft, e: Omit<TxEvent, "at">) => d.events.push({ at: d.now, ...e });

export function setStep(d: Draft, branch: number, step: SagaStep): void {
  d.tx = { ...d.tx, steps: d.tx.steps.with(branch, step) };
}

export function setGroup(d: Draft, index: number, group: AtomicGroup): void {
  const stage = d.tx.stages[index];
  if (stage) d.tx = { ...d.tx, stages: d.tx.stages.with(index, { ...stage, atomic: group }) };
}

export function setParticipant(d: Draft, index: number, p: AtomicParticipant): void {
  const group = d.tx.stages[index]?.atomic;
  if (!group) return;
  const participants = group.participants.map((q) => (q.name === p.name ? p : q));
  setGroup(d, index, { ...group, participants });
}

export const participantOf = (tx: SagaRecord, branch: number): string =>
  tx.branches[branch]?.participant ?? "";

export const withoutDue = ({ dueAt: _dueAt, ...rest }: AtomicParticipant): AtomicParticipant => rest;

/** The record's due time and attempts, from every message it waits on. */
export function schedule(tx: SagaRecord): SagaRecord {
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

/** The atomic stage a participant belongs to, if it is in one. */
export function locate(tx: SagaRecord, participant: string) {
  for (const [index, stage] of tx.stages.entries()) {
    const p = stage.atomic?.participants.find((q) => q.name === participant);
    if (stage.atomic && p) return { index, stage, group: stage.atomic, p };
  }
  return undefined;
}
