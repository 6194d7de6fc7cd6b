/**
 * A bank server's side of two-phase commit: vote on PREPARE, apply or release on
 * the decision, always through the barrier record so that any message, delivered
 * any number of times in any order, has the effect of one delivery.
 */
import type { MessageBus } from "../../adapters/sqs-bus.ts";
import type {
  DecisionMessage,
  ParticipantMessage,
  PrepareMessage,
  VoteMessage,
} from "../../core/messages.ts";
import type { Log } from "../../log.ts";
import { accountsTouched, planPrepare } from "./bank-rules.ts";
import { type BankStore, type Barrier, BarrierConflictError } from "./bank-store.ts";

export interface BankParticipantDeps {
  readonly server: string;
  readonly store: BankStore;
  readonly bus: MessageBus;
  readonly clock: () => number;
  readonly log: Log;
}

/** A message that contradicts the barrier: a bug or a corrupted queue, never retried into success. */
export class ProtocolViolationError extends Error {
  override name = "ProtocolViolationError";
}

// Each retry follows a lost race with another delivery of the same transaction;
// a handful settles it, and a message that still loses returns to the queue.
const MAX_RACES = 8;

const pause = (attempt: number) => new Promise((r) => setTimeout(r, Math.random() * 5 * 2 ** attempt));

export function createBankParticipant(deps: BankParticipantDeps) {
  const { server, store, bus, clock, log } = deps;

  function voteFrom(barrier: Barrier): VoteMessage {
    const base = { type: "vote", txId: barrier.txId, participant: server } as const;
    switch (barrier.state) {
      case "prepared":
      case "committed":
        return { ...base, vote: "yes" };
      case "refused":
        return {
          ...base,
          vote: "no",
          ...(barrier.reason !== undefined ? { reason: barrier.reason } : {}),
          ...(barrier.failedBranch !== undefined ? { failedBranch: barrier.failedBranch } : {}),
        };
      case "rolled_back":
        return { ...base, vote: "no", reason: "rolled_back" };
    }
  }

  async function settleBarrier(message: PrepareMessage): Promise<Barrier> {
    for (let attempt = 0; ; attempt++) {
      const { barrier: existing, accounts } = await store.loadForPrepare(
        server,
        message.txId,
        accountsTouched(message.branches),
      );
      if (existing) return existing;
      const now = clock();
      const base = { server, txId: message.txId, createdAt: now };
      try {
        if (now >= message.deadline) {
          // The coordinator aborts at the deadline anyway; locking now would only delay others.
          const barrier: Barrier = { ...base, state: "refused", effects: [], reason: "timeout" };
          await store.refuse(barrier);
          return barrier;
        }
        const plan = planPrepare(message.branches, accounts, message.txId);
        if (plan.vote === "yes") {
          const barrier: Barrier = { ...base, state: "prepared", effects: plan.effects };
          await store.prepare(barrier, now);
          return barrier;
        }
        const barrier: Barrier = {
          ...base,
          state: "refused",
          effects: [],
          reason: plan.reason,
          failedBranch: plan.failedBranch,
        };
        await store.refuse(barrier);
        log.info("voted no", { txId: message.txId, server, reason: plan.reason, holder: plan.holder });
        return barrier;
      } catch (err) {
        if (!(err instanceof BarrierConflictError) || attempt + 1 >= MAX_RACES) throw err;
        await pause(attempt);
      }
    }
  }

  async function prepare(message: PrepareMessage): Promise<void> {
    const barrier = await settleBarrier(message);
    await bus.toCoordinator(voteFrom(barrier));
  }

  async function decide(message: DecisionMessage): Promise<void> {
    const { txId } = message;
    const commit = message.type === "commit";
    for (let attempt = 0; ; attempt++) {
      const barrier = await store.getBarrier(server, txId);
      const now = clock();
      try {
        if (!barrier) {
          if (commit) throw new ProtocolViolationError(`COMMIT for ${txId} but ${server} never prepared it`);
          await store.rollbackUnprepared(server, txId, now);
        } else if (barrier.state === "prepared") {
          await (commit ? store.commit(barrier, now) : store.rollback(barrier, now));
        } else if (commit && barrier.state !== "committed") {
          throw new ProtocolViolationError(`COMMIT for ${txId} but ${server}'s barrier is ${barrier.state}`);
        } else if (!commit && barrier.state === "committed") {
          throw new ProtocolViolationError(`ROLLBACK for ${txId} but ${server} committed it`);
        }
        break;
      } catch (err) {
        if (!(err instanceof BarrierConflictError) || attempt + 1 >= MAX_RACES) throw err;
        await pause(attempt);
      }
    }
    await bus.toCoordinator({
      type: "ack",
      txId,
      participant: server,
      decision: commit ? "commit" : "abort",
    });
  }

  return {
    handle(message: ParticipantMessage): Promise<void> {
      if (message.participant !== server) {
        throw new ProtocolViolationError(`message for ${message.participant} reached ${server}`);
      }
      return message.type === "prepare" ? prepare(message) : decide(message);
    },
  };
}

export type BankParticipant = ReturnType<typeof createBankParticipant>;
