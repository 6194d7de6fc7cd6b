/** The saga step barrier's rules: action and compensation (the second table of ./barrier.ts). */
import {
  answers,
  type Draft,
  incarnationOf,
  leaseLive,
  otherIncarnation,
  type Plan,
  type Records,
  stepKey,
  twoPhaseKey,
  withoutLease,
} from "./barrier-plan.ts";
import type { ParticipantRequest } from "./request.ts";
import type { BarrierRecord } from "./store.ts";

export function action(
  req: ParticipantRequest & { endpoint: "action" },
  r: BarrierRecord | undefined,
  now: number,
): Plan {
  const key = stepKey(req.participant, req.txId, req.branch);
  const branch = { branch: req.branch, action: req.action, input: req.input };
  const run = (expectedVersion: number): Plan => ({
    kind: "run",
    key,
    expectedVersion,
    claim: { state: "acting", ...incarnationOf(req) },
    rule: "action",
    data: undefined,
    branches: [branch],
  });
  if (!r) {
    if (now >= req.deadline) {
      const draft: Draft = { state: "failed", ...incarnationOf(req), reason: "timeout" };
      return { kind: "write", key, expectedVersion: 0, draft, answer: answers.refuse("timeout") };
    }
    return run(0);
  }
  if (otherIncarnation(r, req)) return { kind: "answer", answer: answers.refuse("id_reused") };
  switch (r.state) {
    case "acting":
      return leaseLive(r, now) ? { kind: "busy", reason: "in_progress" } : run(r.version);
    case "done":
      return { kind: "answer", answer: answers.done };
    case "failed":
      return { kind: "answer", answer: answers.refuse(r.reason ?? "failed") };
    default:
      // Compensated first: this late action never runs.
      return { kind: "answer", answer: answers.refuse("compensated") };
  }
}

export function compensate(
  req: ParticipantRequest & { endpoint: "compensate" },
  records: Records,
  now: number,
): Plan {
  const key = stepKey(req.participant, req.txId, req.branch);
  const branch = { branch: req.branch, action: req.action, input: req.input };
  const step = records.step;
  const run = (expectedVersion: number, data: unknown, base: Draft | undefined): Plan => ({
    kind: "run",
    key,
    expectedVersion,
    claim: { ...(base ?? incarnationOf(req)), state: "compensating" },
    rule: "compensate",
    data,
    branches: [branch],
  });
  const nothingRan = (expectedVersion: number, base: Draft | undefined): Plan => ({
    kind: "write",
    key,
    expectedVersion,
    draft: { ...(base ?? incarnationOf(req)), state: "compensated" },
    answer: answers.compensated,
  });
  if (step && otherIncarnation(step, req)) return { kind: "answer", answer: answers.compensated };
  switch (step?.state) {
    case "compensated":
      return { kind: "answer", answer: answers.compensated };
    case "compensating":
      return leaseLive(step, now)
        ? { kind: "busy", reason: "in_progress" }
        : run(step.version, step.data, withoutLease(step));
    case "done":
      return run(step.version, step.data, withoutLease(step));
    case "failed":
      return nothingRan(step.version, withoutLease(step));
    case "acting":
      // An action that died in the rule may have applied: undo whatever it did.
      return leaseLive(step, now)
        ? { kind: "busy", reason: "in_progress" }
        : run(step.version, undefined, withoutLease(step));
    default:
      break;
  }
  if (!req.atomic) return nothingRan(0, undefined);
  // Atomic stage: what to undo is what its 2PC commit applied.
  const tp = records.twoPhase;
  if (!tp) {
    // As a ROLLBACK would: a late PREPARE of the stage must never apply what is judged not to have happened.
    const draft: Draft = { state: "rolled_back", ...incarnationOf(req), neverPrepared: true };
    return {
      kind: "write",
      key: twoPhaseKey(req.participant, req.txId),
      expectedVersion: 0,
      draft,
      answer: answers.compensated,
    };
  }
  if (otherIncarnation(tp, req)) return { kind: "answer", answer: answers.compensated };
  switch (tp.state) {
    case "committed":
      return run(0, tp.data, undefined);
    case "refused":
    case "rolled_back":
      return { kind: "answer", answer: answers.compensated };
    default:
      return { kind: "busy", reason: "awaiting_decision" };
  }
}
