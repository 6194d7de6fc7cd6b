/**
 * Why a transaction aborted, a participant voted no, or a saga step failed or
 * waits: one registry of the reasons concord itself gives, each with what it
 * means. A participant may give a reason of its own (a model's refusal, an HTTP
 * service's body): that is a `ServiceReason`, carried as it came. On the wire
 * and in views a reason is its plain string, whichever it is. Pure.
 */

export const REASON_KINDS = {
  business: "the participant refused the request as asked; trying again changes nothing",
  contention: "another transaction holds what it needs; the same request may succeed later",
  timeout: "the deadline passed before the transaction could decide",
  operator: "an operator aborted it",
  protocol: "the messages themselves ruled it out: a reused id, a decision already made",
  transient: "the step could not be taken now; it is sent again",
} as const;
export type ReasonKind = keyof typeof REASON_KINDS;

interface ReasonInfo {
  readonly kind: ReasonKind;
  readonly means: string;
}

export const REASONS = {
  vote_no: { kind: "business", means: "a participant voted no and gave no reason" },
  action_failed: { kind: "business", means: "a saga action failed and gave no reason" },
  invalid_input: { kind: "business", means: "the branch's input does not fit its action" },
  too_many_resources: { kind: "business", means: "the branches touch more resources than one write holds" },
  lock_conflict: { kind: "contention", means: "a resource is locked by another transaction" },
  deadlock: { kind: "contention", means: "aborted by the sweeper to break a cycle of waits" },
  timeout: { kind: "timeout", means: "the deadline passed" },
  aborted_by_operator: { kind: "operator", means: "an operator's abort" },
  id_reused: { kind: "protocol", means: "the transaction id was used before by another transaction" },
  branches_mismatch: { kind: "protocol", means: "a PREPARE names other branches than the one before it" },
  rolled_back: { kind: "protocol", means: "the participant had already rolled the transaction back" },
  compensated: { kind: "protocol", means: "the branch was compensated before its action arrived" },
  awaiting_decision: { kind: "transient", means: "a compensation waits for its atomic stage's decision" },
  retry: { kind: "transient", means: "a saga step could not be taken now and gave no reason" },
  failed: { kind: "transient", means: "a compensation failed and gave no reason: it is sent again" },
  unknown_participant: { kind: "protocol", means: "no participant of that name is registered" },
} as const satisfies Record<string, ReasonInfo>;
export type KnownReason = keyof typeof REASONS;

declare const service: unique symbol;
/** A participant's own reason (a model's refusal, an HTTP service's answer): free text. */
export type ServiceReason = string & { readonly [service]: true };

export type Reason = KnownReason | ServiceReason;

/** A reason as read from a message or a service: one of ours when it is, else the service's own. */
export const reasonOf = (text: string): Reason =>
  Object.hasOwn(REASONS, text) ? (text as KnownReason) : (text as ServiceReason);

/** Whether `reason` is the known reason `known`; a misspelt `known` does not compile. */
export const isReason = (reason: string | undefined, known: KnownReason): boolean => reason === known;
