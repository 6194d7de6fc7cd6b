/**
 * A participant's side of two-phase commit: vote on PREPARE, apply or release
 * on the decision, always through the 2PC barrier so that any message,
 * delivered any number of times in any order, has the effect of one delivery.
 */

import { jitteredBackoffMs } from "../core/backoff.ts";
import { type LockPolicy, onConflict } from "../core/lock-policy.ts";
import type { AckMessage, DecisionMessage, PrepareMessage, VoteMessage } from "../core/messages.ts";
import { isReason } from "../core/reasons.ts";
import type { Barrier } from "./barriers.ts";
import { BarrierConflictError, ProtocolViolationError } from "./errors.ts";
import type { KitDeps } from "./kit-deps.ts";
import { planGroup, touchedBy } from "./planning.ts";
import type { ResourceState } from "./resource-model.ts";

export interface TwoPhaseOptions {
  readonly lockPolicy: LockPolicy;
  /**
   * How long one delivery of a PREPARE waits in process for a lock before it
   * puts itself back on the queue (delayed) and lets the poller move on.
   */
  readonly waitBudgetMs: number;
  /** A prepared barrier older than this asks the coordinator for the decision. */
  readonly inDoubtAfterMs: number;
}

const WAIT_STEP_CAP_MS = 200;

/**
 * The decision is for the incarnation the barrier was written for. A decision of
 * an older version names none, and a barrier written for such a ROLLBACK records
 * none: either way it is read as the barrier's own, as before incarnations.
 */
const sameIncarnation = (barrier: Barrier<ResourceState>, message: DecisionMessage) =>
  barrier.txStartedAt === undefined ||
  message.startedAt === undefined ||
  barrier.txStartedAt === message.startedAt;

type Settled<S extends ResourceState> = { readonly barrier: Barrier<S> } | { readonly waitFor: string };

const sameBranches = (a: readonly number[], b: readonly number[]) => {
  const sorted = [...b].sort((x, y) => x - y);
  return a.length === b.length && [...a].sort((x, y) => x - y).every((index, i) => index === sorted[i]);
};

export function createTwoPhaseParticipant<S extends ResourceState>(
  deps: KitDeps<S>,
  options: TwoPhaseOptions,
) {
  const { name, model, store, bus, clock, log, crash, sleep, pause, service, maxRaces, metrics, lockMode } =
    deps;

  function voteFrom(barrier: Barrier<S>): VoteMessage {
    const base = { type: "vote", txId: barrier.txId, participant: name } as const;
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

  /** What a PREPARE's barrier tells the coordinator: a vote, or, committed in one phase, that commit. */
  function reportOf(barrier: Barrier<S>): VoteMessage | AckMessage {
    if (barrier.onePhase && barrier.state === "committed") return committedAck(barrier.txId);
    return voteFrom(barrier);
  }

  const committedAck = (txId: string): AckMessage => ({
    type: "ack",
    txId,
    participant: name,
    decision: "commit",
  });

  /** The vote an existing barrier gives this PREPARE: never another transaction's or another stage's. */
  function answerOf(existing: Barrier<S>, message: PrepareMessage): Barrier<S> {
    // A barrier of an earlier transaction under the same id (its record expired and
    // the id was used again): never vote on another transaction's barrier.
    if (existing.txStartedAt !== undefined && existing.txStartedAt !== message.startedAt) {
      return { ...existing, state: "refused", reason: "id_reused", planned: [] };
    }
    // The barrier answers for the branches it was written for; a PREPARE for other
    // branches of the same transaction (a second atomic stage here) must not take its yes.
    const indexes = message.branches.map((b) => b.index);
    if (existing.branches !== undefined && !sameBranches(existing.branches, indexes)) {
      return { ...existing, state: "refused", reason: "branches_mismatch", planned: [] };
    }
    return existing;
  }

  /** Writes this PREPARE's barrier (prepared or refused), or says whose lock it must wait for. */
  async function settleBarrier(message: PrepareMessage): Promise<Settled<S>> {
    const touched = touchedBy(model, message.branches);
    for (let attempt = 0; ; attempt++) {
      const { barrier: existing, resources } = await store.loadForPrepare(name, message.txId, touched);
      if (existing) return { barrier: answerOf(existing, message) };
      const now = clock();
      const base = {
        participant: name,
        txId: message.txId,
        createdAt: now,
        txStartedAt: message.startedAt,
        branches: message.branches.map((b) => b.index),
        ...(message.sagaStage ? { sagaStage: true } : {}),
      };
      try {
        if (now >= message.deadline) {
          // The coordinator aborts at the deadline anyway; locking now would only delay others.
          const barrier: Barrier<S> = { ...base, state: "refused", planned: [], reason: "timeout" };
          await store.refuse(barrier);
          return { barrier };
        }
        const plan = planGroup(model, message.branches, resources, message.txId, lockMode);
        if (plan.vote === "yes") {
          // An external service (payment) must agree before the vote; a transient
          // failure throws RetryLaterError: nothing written, the PREPARE comes back.
          await service?.({
            step: "prepare",
            participant: name,
            txId: message.txId,
            startedAt: message.startedAt,
            branches: message.branches,
          });
          if (message.onePhase) {
            // The whole transaction is here: apply it now, the barrier committed in the same write.
            const barrier: Barrier<S> = {
              ...base,
              state: "committed",
              planned: plan.planned,
              onePhase: true,
              decidedAt: now,
            };
            await store.commitOnePhase(barrier, now);
            return { barrier };
          }
          const barrier: Barrier<S> = { ...base, state: "prepared", planned: plan.planned };
          await store.prepare(barrier, now);
          return { barrier };
        }
        if (isReason(plan.reason, "lock_conflict") && plan.holder !== undefined) {
          const holder =
            plan.holderStartedAt !== undefined
              ? { id: plan.holder, startedAt: plan.holderStartedAt }
              : undefined;
          const requester = { id: message.txId, startedAt: message.startedAt };
          if (onConflict(options.lockPolicy, requester, holder) === "wait") return { waitFor: plan.holder };
        }
        const barrier: Barrier<S> = {
          ...base,
          state: "refused",
          planned: [],
          reason: plan.reason,
          failedBranch: plan.failedBranch,
        };
        await store.refuse(barrier);
        log.info("voted no", {
          txId: message.txId,
          participant: name,
          reason: plan.reason,
          holder: plan.holder,
        });
        return { barrier };
      } catch (err) {
        if (!(err instanceof BarrierConflictError) || attempt + 1 >= maxRaces) throw err;
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
        await bus.toCoordinator(reportOf(settled.barrier));
        return;
      }
      // Counted once per PREPARE: on its first delivery, when it first meets a lock.
      if (reported === undefined && !message.waits)
        metrics?.count("concord_lock_waits_total", { participant: name });
      if (settled.waitFor !== reported) {
        // Tell the coordinator once per holder: the sweeper then spaces its copies of
        // this PREPARE by the waiting interval, and under detect the edge feeds deadlock detection.
        await bus.toCoordinator({
          type: "waiting",
          txId: message.txId,
          participant: name,
          holder: settled.waitFor,
        });
        reported = settled.waitFor;
      }
      if (clock() - started >= options.waitBudgetMs) {
        // Back on the queue, delayed: the wait goes on without holding this poller
        // and without counting as a failed receive towards the dead-letter queue.
        await bus.toParticipant(name, { ...message, waits: (message.waits ?? 0) + 1 }, { delaySeconds: 1 });
        log.debug("waiting for a lock; PREPARE re-queued", { txId: message.txId, holder: settled.waitFor });
        return;
      }
      await sleep(jitteredBackoffMs(10, round, WAIT_STEP_CAP_MS, Math.random, 0.5));
    }
  }

  async function decide(message: DecisionMessage): Promise<void> {
    const { txId } = message;
    const commit = message.type === "commit";
    if (commit) crash("before-commit");
    for (let attempt = 0; ; attempt++) {
      const barrier = await store.getBarrier(name, txId);
      const now = clock();
      try {
        if (barrier && !sameIncarnation(barrier, message)) {
          // Another transaction's barrier under this id (its record expired and the id
          // was used again): this incarnation never prepared here (its PREPARE met
          // that barrier and voted no). A ROLLBACK has nothing to release, and the
          // barrier, not this incarnation's, is never applied or released for it.
          if (commit) {
            throw new ProtocolViolationError(
              `COMMIT for ${txId} (started ${message.startedAt}) but ${name}'s barrier is another incarnation's`,
            );
          }
          log.warn("ROLLBACK meets an earlier transaction's barrier under this id; nothing to release", {
            txId,
            participant: name,
          });
          if (message.onePhase) {
            // A one-phase coordinator asks how it ended: it did not commit here, but the barrier
            // that says so is not this transaction's (it may expire), so the answer is that refusal.
            // Final once given from the deadline on: every copy of the PREPARE refuses then.
            await bus.toCoordinator({
              type: "vote",
              txId,
              participant: name,
              vote: "no",
              reason: "id_reused",
              ...(message.deadline !== undefined && now >= message.deadline ? { final: true } : {}),
            });
            return;
          }
        } else if (!barrier) {
          if (commit) throw new ProtocolViolationError(`COMMIT for ${txId} but ${name} never prepared it`);
          await store.rollbackUnprepared(name, txId, now, message.startedAt);
        } else if (barrier.state === "prepared") {
          await (commit ? store.commit(barrier, now) : store.rollback(barrier, now));
        } else if (commit && barrier.state !== "committed") {
          throw new ProtocolViolationError(`COMMIT for ${txId} but ${name}'s barrier is ${barrier.state}`);
        } else if (!commit && barrier.state === "committed") {
          if (barrier.onePhase) {
            // The coordinator asks how a one-phase transaction ended (its deadline passed, or
            // an operator aborted it): it committed here, before the ROLLBACK, and that is the answer.
            crash("after-rollback-before-ack");
            await bus.toCoordinator(committedAck(txId));
            return;
          }
          throw new ProtocolViolationError(`ROLLBACK for ${txId} but ${name} committed it`);
        }
        break;
      } catch (err) {
        if (!(err instanceof BarrierConflictError) || attempt + 1 >= maxRaces) throw err;
        await pause(attempt);
      }
    }
    crash(commit ? "after-commit-before-ack" : "after-rollback-before-ack");
    await bus.toCoordinator({ type: "ack", txId, participant: name, decision: commit ? "commit" : "abort" });
  }

  /** Up to when the in-doubt check has asked, in this process. */
  let askedUpTo = Number.NEGATIVE_INFINITY;

  /**
   * Cooperative termination: for each barrier prepared longer than the
   * threshold, ask the coordinator for the decision by sending the yes vote
   * again. The locks stay held: a participant never decides alone.
   */
  async function inquire(): Promise<number> {
    const now = clock();
    const since = askedUpTo;
    // The check runs every timer tick: a barrier is asked about when in doubt, and
    // again every `inDoubtAfterMs` while it stays so, not on every pass.
    const due = (b: Barrier<S>) => {
      const lastDue =
        b.createdAt + Math.floor((now - b.createdAt) / options.inDoubtAfterMs) * options.inDoubtAfterMs;
      return lastDue > since;
    };
    const doubtful = (await store.preparedBefore(name, now - options.inDoubtAfterMs, 100)).filter(due);
    for (const barrier of doubtful) {
      await bus.toCoordinator({ ...voteFrom(barrier), inquiry: true });
    }
    askedUpTo = now;
    if (doubtful.length > 0) {
      log.warn("in doubt: asked the coordinator for decisions", {
        participant: name,
        transactions: doubtful.map((b) => b.txId),
        metric: "InDoubt",
      });
    }
    return doubtful.length;
  }

  return { prepare, decide, inquire };
}
