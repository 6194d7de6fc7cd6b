/**
 * A bank server's side of two-phase commit: vote on PREPARE, apply or release on
 * the decision, always through the barrier record so that any message, delivered
 * any number of times in any order, has the effect of one delivery.
 */
import type { MessageBus } from "../../adapters/sqs-bus.ts";
import { type LockPolicy, onConflict } from "../../core/lock-policy.ts";
import type {
  DecisionMessage,
  ParticipantMessage,
  PrepareMessage,
  VoteMessage,
} from "../../core/messages.ts";
import { type Crash, noCrash } from "../../crash-points.ts";
import type { Log } from "../../log.ts";
import { accountsTouched, planPrepare } from "./bank-rules.ts";
import { type BankStore, type Barrier, BarrierConflictError } from "./bank-store.ts";

export interface BankParticipantDeps {
  readonly server: string;
  readonly store: BankStore;
  readonly bus: MessageBus;
  readonly clock: () => number;
  readonly log: Log;
  readonly lockPolicy: LockPolicy;
  /**
   * How long one delivery of a PREPARE waits in process for a lock before it
   * puts itself back on the queue (delayed) and lets the poller move on.
   */
  readonly waitBudgetMs?: number;
  /** A prepared barrier older than this asks the coordinator for the decision. */
  readonly inDoubtAfterMs?: number;
  readonly crash?: Crash;
  /**
   * Waits before re-reading after a lost race on the barrier (jittered, growing
   * with the attempt), and between lock checks within the wait budget.
   * Injectable so the deterministic simulation needs no timers.
   */
  readonly sleep?: (ms: number) => Promise<void>;
}

/** A message that contradicts the barrier: a bug or a corrupted queue, never retried into success. */
export class ProtocolViolationError extends Error {
  override name = "ProtocolViolationError";
}

// Each retry follows a lost race with another delivery of the same transaction;
// a handful settles it, and a message that still loses returns to the queue.
const MAX_RACES = 8;
const WAIT_STEP_CAP_MS = 200;

const timerSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

type Settled = { readonly barrier: Barrier } | { readonly waitFor: string };

export function createBankParticipant(deps: BankParticipantDeps) {
  const { server, store, bus, clock, log, lockPolicy } = deps;
  const crash = deps.crash ?? noCrash;
  const sleep = deps.sleep ?? timerSleep;
  const pause = (attempt: number) => sleep(Math.random() * 5 * 2 ** attempt);
  const waitBudgetMs = deps.waitBudgetMs ?? 2_000;
  const inDoubtAfterMs = deps.inDoubtAfterMs ?? 30_000;

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

  /** Writes this PREPARE's barrier (prepared or refused), or says whose lock it must wait for. */
  async function settleBarrier(message: PrepareMessage): Promise<Settled> {
    for (let attempt = 0; ; attempt++) {
      const { barrier: existing, accounts } = await store.loadForPrepare(
        server,
        message.txId,
        accountsTouched(message.branches),
      );
      if (existing) {
        // A barrier of an earlier transaction under the same id (its record expired and
        // the id was used again): never vote on another transaction's barrier.
        if (existing.txStartedAt !== undefined && existing.txStartedAt !== message.startedAt) {
          return { barrier: { ...existing, state: "refused", reason: "id_reused", effects: [] } };
        }
        return { barrier: existing };
      }
      const now = clock();
      const base = { server, txId: message.txId, createdAt: now, txStartedAt: message.startedAt };
      try {
        if (now >= message.deadline) {
          // The coordinator aborts at the deadline anyway; locking now would only delay others.
          const barrier: Barrier = { ...base, state: "refused", effects: [], reason: "timeout" };
          await store.refuse(barrier);
          return { barrier };
        }
        const plan = planPrepare(message.branches, accounts, message.txId);
        if (plan.vote === "yes") {
          const barrier: Barrier = { ...base, state: "prepared", effects: plan.effects };
          await store.prepare(barrier, now);
          return { barrier };
        }
        if (plan.reason === "lock_conflict" && plan.holder !== undefined) {
          const holder =
            plan.holderStartedAt !== undefined
              ? { id: plan.holder, startedAt: plan.holderStartedAt }
              : undefined;
          if (onConflict(lockPolicy, { id: message.txId, startedAt: message.startedAt }, holder) === "wait") {
            return { waitFor: plan.holder };
          }
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
        return { barrier };
      } catch (err) {
        if (!(err instanceof BarrierConflictError) || attempt + 1 >= MAX_RACES) throw err;
        await pause(attempt);
      }
    }
  }

  async function prepare(message: PrepareMessage): Promise<void> {
    crash("before-prepare");
    const started = clock();
    let reported: string | undefined;
    for (let round = 0; ; round++) {
      const settled = await settleBarrier(message);
      if ("barrier" in settled) {
        crash("after-prepare-before-vote");
        await bus.toCoordinator(voteFrom(settled.barrier));
        return;
      }
      if (settled.waitFor !== reported) {
        // Tell the coordinator once per holder: the sweeper then sends no more copies
        // of this PREPARE, and under detect the edge feeds deadlock detection.
        await bus.toCoordinator({
          type: "waiting",
          txId: message.txId,
          participant: server,
          holder: settled.waitFor,
        });
        reported = settled.waitFor;
      }
      if (clock() - started >= waitBudgetMs) {
        // Back on the queue, delayed: the wait goes on without holding this poller
        // and without counting as a failed receive towards the dead-letter queue.
        await bus.toParticipant(server, { ...message, waits: (message.waits ?? 0) + 1 }, { delaySeconds: 1 });
        log.debug("waiting for a lock; PREPARE re-queued", { txId: message.txId, holder: settled.waitFor });
        return;
      }
      await sleep(Math.min(WAIT_STEP_CAP_MS, 10 * 2 ** round) * (0.5 + Math.random() / 2));
    }
  }

  async function decide(message: DecisionMessage): Promise<void> {
    const { txId } = message;
    const commit = message.type === "commit";
    if (commit) crash("before-commit");
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
    crash(commit ? "after-commit-before-ack" : "after-rollback-before-ack");
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
      switch (message.type) {
        case "prepare":
          return prepare(message);
        case "commit":
        case "rollback":
          return decide(message);
        default:
          throw new ProtocolViolationError(`${server} does not run saga steps yet (${message.type})`);
      }
    },

    /**
     * Cooperative termination: for each barrier prepared longer than the
     * threshold, ask the coordinator for the decision by sending the yes vote
     * again. The locks stay held: a participant never decides alone.
     */
    async inquire(): Promise<number> {
      const doubtful = await store.preparedBefore(server, clock() - inDoubtAfterMs, 100);
      for (const barrier of doubtful) {
        await bus.toCoordinator({ ...voteFrom(barrier), inquiry: true });
      }
      if (doubtful.length > 0) {
        log.warn("in doubt: asked the coordinator for decisions", {
          server,
          transactions: doubtful.map((b) => b.txId),
          metric: "InDoubt",
        });
      }
      return doubtful.length;
    },
  };
}

export type BankParticipant = ReturnType<typeof createBankParticipant>;
