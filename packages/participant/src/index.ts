export { type Answer, decide, type Plan, stepKey, twoPhaseKey } from "./barrier.ts";
export { createParticipantHandler, type ParticipantHandler, type ParticipantOptions } from "./handler.ts";
export { participantApp } from "./hono.ts";
export { createMemoryBarrierStore, type MemoryBarrierStore } from "./memory-store.ts";
export type {
  ActionRequest,
  Branch,
  CompensateRequest,
  DecisionRequest,
  Endpoint,
  ParticipantRequest,
  PrepareRequest,
} from "./request.ts";
export {
  type ActionContext,
  type CompensateContext,
  type DecisionContext,
  done,
  failed,
  no,
  type PrepareContext,
  RetryLaterError,
  type SagaRules,
  type StepOutcome,
  type TwoPhaseRules,
  type Vote,
  yes,
} from "./rules.ts";
export { DEFAULT_MAX_SKEW_MS, SIGNATURE_HEADER, signRequest, verifySignature } from "./signature.ts";
export type {
  BarrierRecord,
  BarrierState,
  BarrierStore,
  Lease,
  PutResult,
  StepState,
  TwoPhaseState,
} from "./store.ts";
