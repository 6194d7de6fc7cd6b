/** The 2PC barrier's rules: PREPARE, COMMIT and ROLLBACK (the first table of ./barrier.ts). */
import {
  answers,
  type Draft,
  incarnationOf,
  leaseLive,
  otherIncarnation,
  type Plan,
  sameBranches,
  twoPhaseKey,
  withoutLease,
} from "./barrier-plan.ts";
import type { ParticipantRequest } from "./request.ts";
import type { BarrierRecord } from "./store.ts";

export function prepare(
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

export function commit(req: ParticipantRequest, r: BarrierRecord | undefined, now: number): Plan {
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

export function rollback(req: ParticipantRequest, r: BarrierRecord | undefined, now: number): Plan {
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
