/**
 * The contract with an HTTP participant, pure: which endpoint each message
 * calls, the exact request body and idempotency key, and what each answer
 * means (docs/participants.md#http-participants).
 *
 * | endpoint      | 2xx      | 409 / 422             | anything else, timeout, no connection      |
 * | ------------- | -------- | --------------------- | ------------------------------------------ |
 * | /prepare      | vote yes | vote no (+ reason)    | retry                                      |
 * | /commit       | ack      | retry (it voted yes)  | retry                                      |
 * | /rollback     | ack      | ack (nothing to undo) | retry; 404 `unknown_transaction`: ack      |
 * | /action       | done     | failed (+ reason)     | retry                                      |
 * | /compensate   | done     | retry                 | retry                                      |
 */

import { backoffMs } from "../core/backoff.ts";
import type { ParticipantMessage } from "../core/messages.ts";
import type { CallOutcome } from "./http-call.ts";

export type Endpoint = "prepare" | "commit" | "rollback" | "action" | "compensate";

/** What a call's outcome means for the message that made it. */
export type Verdict =
  | { readonly kind: "yes" }
  | { readonly kind: "no"; readonly reason: string; readonly branch?: number }
  | { readonly kind: "retry"; readonly reason: string };

/**
 * The service's own word that it never saw a transaction: a 404 whose body is
 * `{"error":{"code":"unknown_transaction"}}`. Only this 404 acknowledges a
 * ROLLBACK; a bare 404 may come from a gateway or a deploy that never reached
 * the service, which may hold what it prepared.
 */
export const UNKNOWN_TRANSACTION = "unknown_transaction";

/** Reasons travel in votes and results, which hold at most this many characters. */
export const MAX_REASON_LENGTH = 200;

/** The messages that become a call (`finished` does not: a service keeps its own records). */
export type CallMessage = Exclude<ParticipantMessage, { readonly type: "finished" }>;

export const endpointOf = (message: CallMessage): Endpoint => message.type;

const iso = (ms: number) => new Date(ms).toISOString();

/** The body concord POSTs for a message: what the participant needs, nothing of concord's inner state. */
export function requestBody(message: CallMessage): Record<string, unknown> {
  const base = { txId: message.txId, participant: message.participant };
  switch (message.type) {
    case "prepare":
      return {
        ...base,
        branches: message.branches.map((b) => ({ branch: b.index, action: b.action, input: b.input })),
        deadline: iso(message.deadline),
        startedAt: iso(message.startedAt),
      };
    case "commit":
    case "rollback":
      return message.startedAt !== undefined ? { ...base, startedAt: iso(message.startedAt) } : base;
    case "action":
      return {
        ...base,
        branch: message.branch,
        action: message.action,
        input: message.input,
        deadline: iso(message.deadline),
        startedAt: iso(message.startedAt),
      };
    case "compensate":
      return {
        ...base,
        branch: message.branch,
        action: message.action,
        input: message.input,
        startedAt: iso(message.startedAt),
        ...(message.atomic ? { atomic: true } : {}),
      };
  }
}

/**
 * The same for every delivery of the same step, different for every step and
 * every incarnation of the id (`/<startedAt>`) and every attempt of a restarted
 * 2PC transaction (`/<attempt>` last, from the second): a participant that has seen
 * the key answers as it did the first time, and never for an earlier transaction
 * under the same id. A decision of an older version names no incarnation.
 */
export function idempotencyKey(message: CallMessage): string {
  const step = message.type === "action" || message.type === "compensate" ? `/${message.branch}` : "";
  const incarnation = message.startedAt !== undefined ? `/${message.startedAt}` : "";
  // A restarted 2PC transaction's later attempt is a new PREPARE (and decision) for the service.
  const attempt =
    (message.type === "prepare" || message.type === "commit" || message.type === "rollback") &&
    message.attempt !== undefined &&
    message.attempt > 0
      ? `/${message.attempt}`
      : "";
  return `${message.txId}/${message.participant}/${message.type}${step}${incarnation}${attempt}`;
}

const printable = (text: string) => text.replace(/[^\x20-\x7e]+/g, " ").trim();

/**
 * The reason a 409/422 body gives: `{"reason": "..."}` (or `{"error":{"code"}}`),
 * else the body's text, else `http_<status>`; cut to what a vote can carry.
 */
export function reasonFrom(status: number, body: string): { reason: string; branch?: number } {
  let reason: string | undefined;
  let branch: number | undefined;
  try {
    const json = JSON.parse(body) as Record<string, unknown> | string | null;
    if (typeof json === "string") reason = printable(json);
    else if (json && typeof json === "object") {
      const error = json.error as Record<string, unknown> | undefined;
      const candidate = json.reason ?? error?.code ?? error?.message ?? json.message;
      if (typeof candidate === "string") reason = printable(candidate);
      if (Number.isSafeInteger(json.branch) && (json.branch as number) >= 0) branch = json.branch as number;
    }
  } catch {
    reason = printable(body);
  }
  const text = reason || `http_${status}`;
  return { reason: text.slice(0, MAX_REASON_LENGTH), ...(branch !== undefined ? { branch } : {}) };
}

/** Whether a body is the explicit `unknown_transaction` answer (the `error.code` of the API's error shape). */
export function saysUnknownTransaction(body: string): boolean {
  try {
    const json = JSON.parse(body) as { error?: { code?: unknown } } | null;
    return json?.error?.code === UNKNOWN_TRANSACTION;
  } catch {
    return false;
  }
}

/** Why a call must be made again, in a form short enough to log and record. */
function retryReason(outcome: CallOutcome): string {
  switch (outcome.kind) {
    case "timeout":
      return "http_timeout";
    case "unreachable":
      return `http_unreachable: ${outcome.reason}`.slice(0, MAX_REASON_LENGTH);
    case "response":
      return `http_${outcome.status}`;
  }
}

/** `http_409: why`, when the body said why. */
const withDetail = (reason: string, detail: string) =>
  (detail === reason ? reason : `${reason}: ${detail}`).slice(0, MAX_REASON_LENGTH);

const isSuccess = (status: number) => status >= 200 && status < 300;
const isRefusal = (status: number) => status === 409 || status === 422;

/** What an outcome means at an endpoint (the table above). */
export function verdictOf(endpoint: Endpoint, outcome: CallOutcome): Verdict {
  const retry: Verdict = { kind: "retry", reason: retryReason(outcome) };
  if (outcome.kind !== "response") return retry;
  const { status, body } = outcome;
  if (isSuccess(status)) return { kind: "yes" };
  switch (endpoint) {
    case "prepare":
    case "action":
      return isRefusal(status) ? { kind: "no", ...reasonFrom(status, body) } : retry;
    case "rollback":
      // Already settled (409/422), or the service itself says it never saw the transaction:
      // nothing left to undo. Any other 404 may not be the service's, so it is retried.
      if (isRefusal(status) || (status === 404 && saysUnknownTransaction(body))) return { kind: "yes" };
      return retry;
    case "commit":
    case "compensate":
      // A commit after a yes vote, and a compensation, must succeed: they are retried until they do.
      if (!isRefusal(status)) return retry;
      return { kind: "retry", reason: withDetail(retry.reason, reasonFrom(status, body).reason) };
  }
}

/** Re-queues of one delivery of a 2PC message after failed calls, before the coordinator's own re-send takes over. */
export const MAX_REQUEUES = 5;
/** 1, 2, 4, 8, 16 s: quick for a blip, and within SQS's 900 s DelaySeconds limit. */
export const requeueDelaySeconds = (retries: number): number => backoffMs(1, retries, 16);
