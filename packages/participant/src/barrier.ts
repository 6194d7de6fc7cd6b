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
import { type Plan, type Records, stepKey, twoPhaseKey } from "./barrier-plan.ts";
import type { ParticipantRequest } from "./request.ts";
import { action, compensate } from "./saga-barrier.ts";
import { commit, prepare, rollback } from "./two-phase-barrier.ts";

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
