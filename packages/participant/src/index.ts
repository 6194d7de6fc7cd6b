export { decide } from "./barrier.ts";
export { type Answer, type Plan, stepKey, twoPhaseKey } from "./barrier-plan.ts";
export {
  createParticipantHandler,
  type ParticipantHandler,
  type ParticipantOptions,
  type WriteMode,
} from "./handler.ts";
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
  type Applied,
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
  type Writes,
  yes,
} from "./rules.ts";
export { DEFAULT_MAX_SKEW_MS, SIGNATURE_HEADER, signRequest, verifySignature } from "./signature.ts";
export type {
  BarrierRecord,
  BarrierState,
  BarrierStore,
  Item,
  Lease,
  PutResult,
  StepState,
  TwoPhaseState,
  Write,
} from "./store.ts";
