/**
 * The dispatcher's use case: deliver one participant message to a registered
 * HTTP participant and turn its answer into what the coordinator waits for (a
 * vote, an ack, a step result). Stateless: a duplicated message makes the same
 * call with the same idempotency key, and the coordinator counts its answer
 * once. A failed 2PC call puts its message back on the queue, delayed, a few
 * times; after that the coordinator's sweeper re-sends it (for a decision, for
 * ever). A failed saga call answers `retry`: the coordinator re-sends the step
 * after its backoff and counts the attempts in the transaction's view.
 */

import type { Logger } from "@aws-lambda-powertools/logger";
import type { DecisionMessage, ParticipantMessage, PrepareMessage } from "../core/messages.ts";
import type { Metrics } from "../metrics/metrics.ts";
import type { MessageBus } from "../ports/message-bus.ts";
import type { Caller, CallOutcome } from "./http-call.ts";
import {
  type CallMessage,
  endpointOf,
  idempotencyKey,
  MAX_REQUEUES,
  requestBody,
  requeueDelaySeconds,
  type Verdict,
  verdictOf,
} from "./http-protocol.ts";
import type { HttpParticipant, ParticipantRegistry } from "./registry.ts";
import type { SigningSecret } from "./signing-secret.ts";
import { checkBaseUrl, endpointUrl, type UrlPolicy } from "./url-policy.ts";

export interface DispatcherDeps {
  /** Remembering registrations (`rememberingRegistry`): the dispatcher asks for one per message. */
  readonly registry: Pick<ParticipantRegistry, "get">;
  readonly bus: MessageBus;
  readonly call: Caller;
  readonly policy: UrlPolicy;
  /** One call's limit (CONCORD_HTTP_TIMEOUT_MS). */
  readonly timeoutMs: number;
  /**
   * Signs every call with what it gives (CONCORD_HTTP_PARTICIPANT_SECRET, or the
   * stack's Secrets Manager secret on Lambda); unsigned without one.
   */
  readonly secret?: SigningSecret;
  readonly clock: () => number;
  readonly log: Logger;
  /** Counts each call by participant and outcome: the dashboard's health of an HTTP participant. */
  readonly metrics?: Metrics;
}

const CALL_OUTCOME: Record<Verdict["kind"], string> = { yes: "ok", no: "refused", retry: "failed" };

/** A message for a participant nobody registered: only a bug or a hand-edited table gets here. */
export class UnknownParticipantError extends Error {
  override name = "UnknownParticipantError";
}

export function createDispatcher(deps: DispatcherDeps) {
  const { registry, bus, call, policy, timeoutMs, secret, clock, log } = deps;
  /** The call, with the URL policy checked again now: configuration may have changed since registration. */
  async function callFor(participant: HttpParticipant, message: CallMessage): Promise<CallOutcome> {
    const checked = checkBaseUrl(participant.baseUrl, policy);
    if (!checked.ok) {
      log.error("participant's URL is refused by the URL policy now; the call is not made", {
        txId: message.txId,
        participant: participant.name,
        reason: checked.reason,
      });
      return { kind: "unreachable", reason: `refused by policy: ${checked.reason}` };
    }
    // Asked per call: a refreshed secret (a rotation) is used from the next call on.
    const signingKey = secret ? await secret() : undefined;
    return call({
      url: endpointUrl(participant.baseUrl, endpointOf(message)),
      body: requestBody(message),
      headers: { "idempotency-key": idempotencyKey(message) },
      timeoutMs,
      allowPrivate: policy.allowPrivate,
      ...(signingKey ? { secret: signingKey } : {}),
    });
  }

  /** The call and what its answer means, counted by outcome. */
  async function judge(participant: HttpParticipant, message: CallMessage): Promise<Verdict> {
    const verdict = verdictOf(message.type, await callFor(participant, message));
    deps.metrics?.count("concord_http_calls_total", {
      participant: participant.name,
      outcome: CALL_OUTCOME[verdict.kind],
    });
    return verdict;
  }

  /** Back on the dispatcher's queue, delayed; after MAX_REQUEUES the coordinator's re-send takes over. */
  async function requeue(message: PrepareMessage | DecisionMessage, reason: string): Promise<void> {
    const retries = message.retries ?? 0;
    const delaySeconds = requeueDelaySeconds(retries);
    const fields = {
      txId: message.txId,
      participant: message.participant,
      type: message.type,
      attempt: retries + 1,
      reason,
    };
    const pastDeadline = message.type === "prepare" && clock() + delaySeconds * 1000 >= message.deadline;
    if (retries >= MAX_REQUEUES || pastDeadline) {
      log.warn("call failed; this copy is dropped and the coordinator's sweeper sends the message again", {
        ...fields,
        ...(pastDeadline ? { why: "the deadline comes first" } : {}),
      });
      return;
    }
    log.warn("call failed; the message goes back on the queue", { ...fields, delaySeconds });
    await bus.toParticipant(message.participant, { ...message, retries: retries + 1 }, { delaySeconds });
  }

  async function prepare(participant: HttpParticipant, message: PrepareMessage): Promise<void> {
    const base = {
      type: "vote",
      txId: message.txId,
      participant: message.participant,
      ...(message.attempt !== undefined ? { attempt: message.attempt } : {}),
    } as const;
    if (clock() >= message.deadline) {
      // Asking now would only make the service hold locks the coordinator's deadline abort
      // releases. And no vote at all: an earlier copy may have prepared the service (its
      // answer lost, or this function killed after the call), and a no vote would excuse
      // the participant from the ROLLBACK; silent, it gets the deadline abort's ROLLBACK.
      log.info("PREPARE arrived past its deadline: not called, no vote sent", {
        txId: message.txId,
        participant: message.participant,
      });
      return;
    }
    const verdict = await judge(participant, message);
    switch (verdict.kind) {
      case "yes":
        return bus.toCoordinator({ ...base, vote: "yes" });
      case "no": {
        const blamed = message.branches.some((b) => b.index === verdict.branch) ? verdict.branch : undefined;
        log.info("voted no", {
          txId: message.txId,
          participant: message.participant,
          reason: verdict.reason,
        });
        return bus.toCoordinator({
          ...base,
          vote: "no",
          reason: verdict.reason,
          ...(blamed !== undefined ? { failedBranch: blamed } : {}),
        });
      }
      case "retry":
        return requeue(message, verdict.reason);
    }
  }

  async function decide(participant: HttpParticipant, message: DecisionMessage): Promise<void> {
    const verdict = await judge(participant, message);
    if (verdict.kind === "yes") {
      const decision = message.type === "commit" ? "commit" : "abort";
      return bus.toCoordinator({
        type: "ack",
        txId: message.txId,
        participant: message.participant,
        decision,
        ...(message.attempt !== undefined ? { attempt: message.attempt } : {}),
      });
    }
    if (message.type === "commit" && /^http_4(09|22)/.test(verdict.reason)) {
      log.error("participant refused a COMMIT after voting yes; it is sent again until it applies it", {
        txId: message.txId,
        participant: message.participant,
        reason: verdict.reason,
        metric: "CommitRefused",
      });
    }
    return requeue(message, verdict.reason);
  }

  async function step(
    participant: HttpParticipant,
    message: ParticipantMessage & { type: "action" | "compensate" },
  ) {
    const kind = message.type === "action" ? "action" : "compensation";
    const result = (v: Verdict) => {
      const outcome = v.kind === "yes" ? "done" : v.kind === "no" ? "failed" : "retry";
      return bus.toCoordinator({
        type: "result",
        txId: message.txId,
        participant: message.participant,
        branch: message.branch,
        step: kind,
        outcome,
        ...(v.kind !== "yes" ? { reason: v.reason } : {}),
      });
    };
    if (message.type === "action" && clock() >= message.deadline) {
      // The coordinator compensates at the deadline anyway; the action is not asked for.
      return result({ kind: "no", reason: "timeout" });
    }
    const verdict = await judge(participant, message);
    if (verdict.kind === "retry") {
      log.warn(`${kind} call failed; the coordinator sends it again after its backoff`, {
        txId: message.txId,
        participant: message.participant,
        branch: message.branch,
        reason: verdict.reason,
      });
    }
    return result(verdict);
  }

  async function handle(message: ParticipantMessage): Promise<void> {
    // A service keeps its own records: there are no barriers here to let expire.
    if (message.type === "finished") return;
    const participant = await registry.get(message.participant);
    if (!participant) {
      // Nothing was sent to anyone: refusing a PREPARE or an action is safe (presumed abort,
      // the saga compensates); a decision or compensation has nowhere to go and fails loudly.
      log.error("message for a participant that is not registered", {
        txId: message.txId,
        participant: message.participant,
        type: message.type,
      });
      const reason = "unknown_participant";
      const base = { txId: message.txId, participant: message.participant };
      if (message.type === "prepare") {
        const attempt = message.attempt !== undefined ? { attempt: message.attempt } : {};
        return bus.toCoordinator({ type: "vote", ...base, ...attempt, vote: "no", reason });
      }
      if (message.type === "action") {
        return bus.toCoordinator({
          type: "result",
          ...base,
          branch: message.branch,
          step: "action",
          outcome: "failed",
          reason,
        });
      }
      throw new UnknownParticipantError(`no HTTP participant ${message.participant} is registered`);
    }
    switch (message.type) {
      case "prepare":
        return prepare(participant, message);
      case "commit":
      case "rollback":
        return decide(participant, message);
      case "action":
      case "compensate":
        return step(participant, message);
    }
  }

  return { handle };
}

export type Dispatcher = ReturnType<typeof createDispatcher>;
