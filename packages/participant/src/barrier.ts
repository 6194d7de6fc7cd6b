/**
 * The barrier, pure: given a request, the barrier records it concerns and the
 * time, what to do — answer from what is recorded, write a record and answer,
 * claim the step and run the business rule, or tell the caller to come back.
 * Nothing here does I/O; `handler.ts` carries a plan out, and re-decides when
 * a conditional write finds that someone else wrote first.
 *
 * 2PC barrier, one per (participant, txId, incarnation):
 *
 * | request   | none                                  | in flight (lease live) | prepared       | committed | refused | rolled_back                |
 * | --------- | ------------------------------------- | ---------------------- | -------------- | --------- | ------- | -------------------------- |
 * | prepare   | run `prepare` → prepared / refused    | 503                    | yes            | yes       | its no  | no `rolled_back`           |
 * | commit    | 409 `not_prepared`                    | 503                    | run `commit`   | ack       | 409     | 409                        |
 * | rollback  | write rolled_back; 404 unknown_tx     | 503                    | run `rollback` | 409       | ack     | ack (404 if never prepared) |
 *
 * Saga step barrier, one per (participant, txId, branch, incarnation):
 *
 * | request    | none                               | in flight (lease live) | done             | failed             | compensated        |
 * | ---------- | ---------------------------------- | ---------------------- | ---------------- | ------------------ | ------------------ |
 * | action     | run `action` → done / failed       | 503                    | done             | its failure        | failed `compensated` |
 * | compensate | write compensated (blocks action)  | 503                    | run `compensate` | write compensated  | done               |
 *
 * An in-flight state (only in `own-io` mode, where a delivery claims the step
 * before its rule runs) whose lease ran out — the process died in the rule, or
 * the rule threw — is taken over: the step runs again. In `transactional` mode
 * a `run` plan writes no claim: the rule's writes and the barrier's next state
 * are one conditional write on the version read.
 *
 * Records are kept per incarnation of the id (its `startedAt`): an id used
 * again starts afresh, and a ROLLBACK or compensation of an incarnation that
 * never ran here finds nothing of another. A decision that names no
 * incarnation (an older dispatcher) is given the newest record held; a record
 * of another incarnation is never taken for this one's.
 */
import type { Branch, ParticipantRequest } from "./request.ts";
import type { BarrierRecord, BarrierState } from "./store.ts";

export interface Answer {
  readonly status: number;
  readonly body: unknown;
}

/** A record as a plan wants it written; the executor adds key, version, lease and expiry. */
export type Draft = Omit<BarrierRecord, "key" | "version" | "lease" | "expiresAt">;

export type Rule = "prepare" | "commit" | "rollback" | "action" | "compensate";

export type Plan =
  | { readonly kind: "answer"; readonly answer: Answer }
  | {
      readonly kind: "write";
      readonly key: string;
      readonly expectedVersion: number;
      readonly draft: Draft;
      readonly answer: Answer;
    }
  | {
      readonly kind: "run";
      readonly key: string;
      readonly expectedVersion: number;
      readonly claim: Draft;
      readonly rule: Rule;
      /** What the rule is handed as `data` (what prepare or action returned). */
      readonly data: unknown;
      readonly branches: readonly Branch[];
    }
  | { readonly kind: "busy"; readonly reason: string };

export interface Records {
  readonly twoPhase?: BarrierRecord | undefined;
  readonly step?: BarrierRecord | undefined;
}

export const twoPhaseKey = (participant: string, txId: string) => `2pc#${participant}#${txId}`;
export const stepKey = (participant: string, txId: string, branch: number) =>
  `step#${participant}#${txId}#${branch}`;

const IN_FLIGHT: ReadonlySet<BarrierState> = new Set([
  "preparing",
  "committing",
  "rolling_back",
  "acting",
  "compensating",
]);
/** Nothing more will change them: they may expire. */
export const SETTLED: ReadonlySet<BarrierState> = new Set([
  "refused",
  "committed",
  "rolled_back",
  "failed",
  "compensated",
]);

export const isInFlight = (state: BarrierState) => IN_FLIGHT.has(state);
const leaseLive = (r: BarrierRecord, now: number) => r.lease !== undefined && r.lease.until > now;

/** Written for another transaction under the same id (its record expired, the id was used again). */
const otherIncarnation = (r: BarrierRecord, req: ParticipantRequest) =>
  r.incarnation !== undefined && req.startedAt !== undefined && r.incarnation !== req.startedAt;

const incarnationOf = (req: ParticipantRequest) =>
  req.startedAt !== undefined ? { incarnation: req.startedAt } : {};

export const answers = {
  yes: { status: 200, body: { vote: "yes" } },
  ack: { status: 200, body: { acknowledged: true } },
  done: { status: 200, body: { outcome: "done" } },
  compensated: { status: 200, body: { outcome: "compensated" } },
  unknownTransaction: {
    status: 404,
    body: { error: { code: "unknown_transaction", message: "no such transaction here" } },
  },
  refuse: (reason: string, branch?: number): Answer => ({
    status: 409,
    body: { reason, ...(branch !== undefined ? { branch } : {}) },
  }),
} as const;

const sameBranches = (recorded: readonly Branch[] | undefined, asked: readonly Branch[]) =>
  recorded === undefined ||
  (recorded.length === asked.length && recorded.every((b, i) => b.branch === asked[i]?.branch));

function prepare(
  req: ParticipantRequest & { endpoint: "prepare" },
  r: BarrierRecord | undefined,
  now: number,
): Plan {
  const key = twoPhaseKey(req.participant, req.txId);
  const run = (expectedVersion: number): Plan => ({
    kind: "run",
    key,
    expectedVersion,
    claim: { state: "preparing", ...incarnationOf(req), branches: req.branches },
    rule: "prepare",
    data: undefined,
    branches: req.branches,
  });
  if (!r) {
    if (now >= req.deadline) {
      const draft: Draft = {
        state: "refused",
        ...incarnationOf(req),
        branches: req.branches,
        reason: "timeout",
      };
      return { kind: "write", key, expectedVersion: 0, draft, answer: answers.refuse("timeout") };
    }
    return run(0);
  }
  if (otherIncarnation(r, req)) return { kind: "answer", answer: answers.refuse("id_reused") };
  if (!sameBranches(r.branches, req.branches)) {
    return { kind: "answer", answer: answers.refuse("branches_mismatch") };
  }
  switch (r.state) {
    case "preparing":
      return leaseLive(r, now) ? { kind: "busy", reason: "in_progress" } : run(r.version);
    case "prepared":
    case "committing":
    case "committed":
      return { kind: "answer", answer: answers.yes };
    case "refused":
      return { kind: "answer", answer: answers.refuse(r.reason ?? "refused") };
    default:
      return { kind: "answer", answer: answers.refuse("rolled_back") };
  }
}

function commit(req: ParticipantRequest, r: BarrierRecord | undefined, now: number): Plan {
  if (!r) return { kind: "answer", answer: answers.refuse("not_prepared") };
  if (otherIncarnation(r, req)) return { kind: "answer", answer: answers.refuse("id_reused") };
  const run: Plan = {
    kind: "run",
    key: r.key,
    expectedVersion: r.version,
    claim: { ...withoutLease(r), state: "committing" },
    rule: "commit",
    data: r.data,
    branches: r.branches ?? [],
  };
  switch (r.state) {
    case "prepared":
      return run;
    case "committing":
      return leaseLive(r, now) ? { kind: "busy", reason: "in_progress" } : run;
    case "committed":
      return { kind: "answer", answer: answers.ack };
    case "preparing":
    case "rolling_back":
      return { kind: "busy", reason: "in_progress" };
    default:
      // A commit for what voted no or was rolled back: a protocol violation the dispatcher logs (CommitRefused).
      return { kind: "answer", answer: answers.refuse(r.state) };
  }
}

function rollback(req: ParticipantRequest, r: BarrierRecord | undefined, now: number): Plan {
  const key = twoPhaseKey(req.participant, req.txId);
  if (!r) {
    // Remembered, so that a late PREPARE of this transaction votes no.
    const draft: Draft = { state: "rolled_back", ...incarnationOf(req), neverPrepared: true };
    return { kind: "write", key, expectedVersion: 0, draft, answer: answers.unknownTransaction };
  }
  // This incarnation never reached this participant: nothing of it to release.
  if (otherIncarnation(r, req)) return { kind: "answer", answer: answers.unknownTransaction };
  const run: Plan = {
    kind: "run",
    key,
    expectedVersion: r.version,
    claim: { ...withoutLease(r), state: "rolling_back" },
    rule: "rollback",
    data: r.data,
    branches: r.branches ?? [],
  };
  switch (r.state) {
    case "prepared":
      return run;
    case "preparing":
    case "rolling_back":
      // A PREPARE that died in the rule may have reserved: release whatever it holds.
      return leaseLive(r, now) ? { kind: "busy", reason: "in_progress" } : run;
    case "rolled_back":
      return { kind: "answer", answer: r.neverPrepared ? answers.unknownTransaction : answers.ack };
    case "refused":
      return { kind: "answer", answer: answers.ack };
    default:
      return { kind: "answer", answer: answers.refuse(r.state === "committing" ? "committed" : r.state) };
  }
}

function action(
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

function compensate(
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

function withoutLease(r: BarrierRecord): Draft {
  const { key: _key, version: _version, lease: _lease, expiresAt: _expiresAt, ...draft } = r;
  return draft;
}

/** What to do with a request, given the records it concerns. */
export function decide(req: ParticipantRequest, records: Records, now: number): Plan {
  switch (req.endpoint) {
    case "prepare":
      return prepare(req, records.twoPhase, now);
    case "commit":
      return commit(req, records.twoPhase, now);
    case "rollback":
      return rollback(req, records.twoPhase, now);
    case "action":
      return action(req, records.step, now);
    case "compensate":
      return compensate(req, records, now);
  }
}

/** Which records a request concerns. */
export function keysOf(req: ParticipantRequest): { twoPhase?: string; step?: string } {
  switch (req.endpoint) {
    case "prepare":
    case "commit":
    case "rollback":
      return { twoPhase: twoPhaseKey(req.participant, req.txId) };
    case "action":
      return { step: stepKey(req.participant, req.txId, req.branch) };
    case "compensate":
      return {
        step: stepKey(req.participant, req.txId, req.branch),
        ...(req.atomic ? { twoPhase: twoPhaseKey(req.participant, req.txId) } : {}),
      };
  }
}
