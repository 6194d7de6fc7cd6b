/**
 * A participant's side of two-phase commit: vote on PREPARE, apply or release
 * on the decision, always through the 2PC barrier so that any message,
 * delivered any number of times in any order, has the effect of one delivery.
 */

import { jitteredBackoffMs } from "../core/backoff.ts";
import { type LockPolicy, onConflict } from "../core/lock-policy.ts";
import type { AckMessage, DecisionMessage, PrepareMessage, VoteMessage } from "../core/messages.ts";
import { isReason } from "../core/reasons.ts";
import { attemptOf } from "../core/transaction.ts";
import type { Barrier } from "./barriers.ts";
import { BarrierConflictError, ProtocolViolationError } from "./errors.ts";
import type { KitDeps } from "./kit-deps.ts";
import { createParkedWaiters } from "./parked-waiters.ts";
import { declaredPlan, planGroup, touchedBy } from "./planning.ts";
import { createPreparedBarriers } from "./prepared-barriers.ts";
import { MAX_RESOURCES_PER_WRITE, type Resource, type ResourceState } from "./resource-model.ts";

export interface TwoPhaseOptions {
  readonly lockPolicy: LockPolicy;
  /**
   * How long one delivery of a PREPARE waits in process for a lock before it
   * registers as a waiter on the locked resource and lets the poller move on
   * (0: at once). The release then wakes it; nothing polls.
   */
  readonly waitBudgetMs: number;
  /** A prepared barrier older than this asks the coordinator for the decision. */
  readonly inDoubtAfterMs: number;
}

const WAIT_STEP_CAP_MS = 200;
/** A participant's part of the record's write: the record, the barrier and its resources fit one transaction. */
const MAX_RESOURCES_ALONGSIDE = MAX_RESOURCES_PER_WRITE - 1;
/**
 * The most participants a transaction may have for a vote to be written with its
 * prepare: its votes are then written one by one, where plain votes that meet in
 * a process fold into one write, and each writes the record at the transactional
 * rate, twice its size; a large transaction's votes go plain.
 */
const MAX_VOTERS_WITH_PREPARE = 4;
/**
 * Where `barrier` may be written as a part of the record's write: the
 * incarnation it names, else undefined. Not an atomic saga stage's barrier,
 * kept until its saga is finished; not where the record, the barrier and its
 * resources would pass one transaction's items.
 */
const alongsideOf = (barrier: Barrier<ResourceState>): number | undefined =>
  barrier.sagaStage || barrier.planned.length > MAX_RESOURCES_ALONGSIDE ? undefined : barrier.txStartedAt;

/** Reservations alone: nothing waits for its release, so it may commit with a decision. */
const holdsNoLock = (barrier: Barrier<ResourceState>): boolean =>
  barrier.planned.every((p) => p.moves !== undefined);

/** Registrations that may find the lock moved on before a PREPARE falls back to a delayed copy. */
const MAX_REGISTRATIONS = 5;

/**
 * The decision is for the incarnation the barrier was written for. A decision of
 * an older version names none, and a barrier written for such a ROLLBACK records
 * none: either way it is read as the barrier's own, as before incarnations.
 */
const sameIncarnation = (barrier: Barrier<ResourceState>, message: DecisionMessage) =>
  barrier.txStartedAt === undefined ||
  message.startedAt === undefined ||
  barrier.txStartedAt === message.startedAt;

/**
 * The barrier is this message's own: written for its incarnation, which the
 * message names, and for its attempt. Only then may a remembered copy be used.
 */
const sameAttempt = (
  barrier: Barrier<ResourceState>,
  message: { readonly startedAt?: number | undefined; readonly attempt?: number | undefined },
) =>
  message.startedAt !== undefined &&
  barrier.txStartedAt === message.startedAt &&
  attemptOf(barrier) === attemptOf(message);

type Settled<S extends ResourceState> =
  | {
      readonly barrier: Barrier<S>;
      /** The holder this attempt died at, whose release it can no longer be woken by (see wakeMissed). */
      readonly missedWake?: string;
      /** Its vote was written with it (`voteWithPrepare`): there is nothing more to tell the coordinator. */
      readonly voted?: true;
    }
  | { readonly waitFor: string; readonly holderAttempt?: number; readonly resource?: string };

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
  /** The barriers this process prepared, each the input of its decision's conditional write. */
  const remembered = createPreparedBarriers<S>();
  /** The PREPAREs this process registered as waiting: a release here runs the oldest at once. */
  const parked = createParkedWaiters();

  function voteFrom(barrier: Barrier<S>): VoteMessage {
    const base = {
      type: "vote",
      txId: barrier.txId,
      participant: name,
      ...(barrier.attempt !== undefined ? { attempt: barrier.attempt } : {}),
    } as const;
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
          ...(barrier.restart === true ? { restart: true } : {}),
          ...(barrier.holder !== undefined ? { holder: barrier.holder } : {}),
        };
      case "rolled_back":
        return { ...base, vote: "no", reason: "rolled_back" };
    }
  }

  /** What a PREPARE's barrier tells the coordinator: a vote, or, committed in one phase, that commit. */
  function reportOf(barrier: Barrier<S>): VoteMessage | AckMessage {
    if (barrier.onePhase && barrier.state === "committed") return committedAck(barrier);
    return voteFrom(barrier);
  }

  /** A one-phase commit's report, naming the attempt that committed (the coordinator ignores others'). */
  const committedAck = (barrier: Barrier<S>): AckMessage => ({
    type: "ack",
    txId: barrier.txId,
    participant: name,
    decision: "commit",
    ...(barrier.attempt !== undefined ? { attempt: barrier.attempt } : {}),
  });

  /**
   * A refusal answered from `existing` for this PREPARE: for its attempt (the
   * coordinator ignores another attempt's vote), and never a restart.
   */
  function refusal(existing: Barrier<S>, reason: string, message: PrepareMessage): Barrier<S> {
    const { restart: _restart, holder: _holder, attempt: _attempt, ...rest } = existing;
    return {
      ...rest,
      state: "refused",
      reason,
      planned: [],
      ...(message.attempt !== undefined ? { attempt: message.attempt } : {}),
    };
  }

  /**
   * The vote an existing barrier gives this PREPARE: never another transaction's,
   * another stage's or another attempt's. Undefined: the barrier is an earlier
   * attempt's and holds nothing, so this PREPARE writes its own over it.
   */
  function answerOf(existing: Barrier<S>, message: PrepareMessage): Barrier<S> | undefined {
    // A barrier of an earlier transaction under the same id (its record expired and
    // the id was used again): never vote on another transaction's barrier.
    if (existing.txStartedAt !== undefined && existing.txStartedAt !== message.startedAt) {
      return refusal(existing, "id_reused", message);
    }
    const attempt = attemptOf(message);
    if (attemptOf(existing) > attempt) {
      // A late copy of an earlier attempt's PREPARE: its no is for that attempt, which the coordinator ignores.
      return refusal(existing, "rolled_back", message);
    }
    if (attemptOf(existing) < attempt) {
      if (existing.state === "rolled_back" || existing.state === "refused") return undefined;
      // The earlier attempt still holds here: its ROLLBACK comes first (the coordinator
      // starts an attempt only once every participant released the one before).
      throw new ProtocolViolationError(
        `PREPARE of attempt ${attempt} for ${message.txId} but ${name} holds attempt ${attemptOf(existing)}`,
      );
    }
    // The barrier answers for the branches it was written for; a PREPARE for other
    // branches of the same transaction (a second atomic stage here) must not take its yes.
    const indexes = message.branches.map((b) => b.index);
    if (existing.branches !== undefined && !sameBranches(existing.branches, indexes)) {
      return refusal(existing, "branches_mismatch", message);
    }
    return existing;
  }

  /** What every barrier this PREPARE writes says of it. */
  const barrierBase = (message: PrepareMessage, now: number) => ({
    participant: name,
    txId: message.txId,
    createdAt: now,
    txStartedAt: message.startedAt,
    ...(message.attempt !== undefined ? { attempt: message.attempt } : {}),
    branches: message.branches.map((b) => b.index),
    ...(message.sagaStage ? { sagaStage: true } : {}),
  });

  /**
   * The blind prepare: where every branch declares its moves (ActionSpec.moves),
   * the barrier and its holds are written without a read, and the store's
   * conditions judge what the read would have (no barrier yet; every resource
   * there, unlocked, its moves fitting). Undefined where it does not apply or
   * the write was refused: then the PREPARE reads and plans, which answers every
   * refusal as before (an existing barrier's vote, the model's own reason, a
   * lock to wait for). Only a first attempt: a later one may meet an earlier
   * attempt's barrier, which the read judges. Not with an external service,
   * which would be asked to agree to branches the read may refuse.
   */
  async function blindPrepare(
    message: PrepareMessage,
  ): Promise<{ readonly barrier: Barrier<S>; readonly voted?: true } | undefined> {
    if (service !== undefined || attemptOf(message) !== 0) return undefined;
    const now = clock();
    if (now >= message.deadline) return undefined;
    const planned = declaredPlan(model, message.branches, lockMode);
    if (planned === undefined) return undefined;
    const base = barrierBase(message, now);
    try {
      if (message.onePhase) {
        const barrier: Barrier<S> = { ...base, state: "committed", planned, onePhase: true, decidedAt: now };
        await store.commitOnePhase(barrier, now);
        return { barrier };
      }
      const barrier: Barrier<S> = { ...base, state: "prepared", planned };
      const small = message.voters !== undefined && message.voters <= MAX_VOTERS_WITH_PREPARE;
      const voted = small ? await voteWithPrepare(barrier) : undefined;
      if (voted) return { barrier: voted, voted: true };
      await store.prepare(barrier, now);
      return { barrier };
    } catch (err) {
      if (!(err instanceof BarrierConflictError)) throw err;
      metrics?.count("concord_blind_prepare_fallbacks_total", { participant: name });
      log.debug("blind prepare refused; reading to plan", {
        txId: message.txId,
        participant: name,
        barrierChanged: err.barrierChanged,
      });
      return undefined;
    }
  }

  /**
   * The blind prepare's barrier written with its yes vote, in one write with the
   * record (`OwnPrepare` in ports/alongside.ts): no write of its own first and no
   * vote after. Where that vote decides to commit, the branches are applied at
   * once instead, as the last voter's commit is written with its decision (so
   * only where that is on, `offerCommit`, and for a barrier that would hold no
   * lock: nothing waits for its release). The barrier as written, or undefined
   * when the coordinator's handling did not take the vote (it is decided, or was
   * voted on; the prepare's conditions failed; the write failed): then nothing
   * of it was written, and the PREPARE prepares and votes on its own. Not for an
   * atomic saga stage, whose barrier is kept until its saga is finished, nor a
   * transaction of more than MAX_VOTERS_WITH_PREPARE participants, nor where the
   * write would not fit one transaction with the record.
   */
  async function voteWithPrepare(barrier: Barrier<S>): Promise<Barrier<S> | undefined> {
    const apply = deps.voteWithPrepare;
    const { prepareAlongside, commitOnePhaseAlongside } = store;
    const startedAt = alongsideOf(barrier);
    if (!apply || !prepareAlongside || !commitOnePhaseAlongside || startedAt === undefined) return undefined;
    // Committed at once only where the last voter's commit goes with its decision (offerCommit).
    const atOnce = deps.offerCommit !== undefined && holdsNoLock(barrier);
    const committedAt = (now: number): Barrier<S> => ({ ...barrier, state: "committed", decidedAt: now });
    let written: Barrier<S> | undefined;
    await apply(voteFrom(barrier), {
      participant: name,
      attempt: attemptOf(barrier),
      startedAt,
      prepare: (now) => prepareAlongside.call(store, barrier, now),
      ...(atOnce
        ? { commit: (now: number) => commitOnePhaseAlongside.call(store, committedAt(now), now) }
        : {}),
      written: (part, now) => {
        written = part === "committed" ? committedAt(now) : barrier;
      },
    });
    return written;
  }

  /**
   * Wait-die's refinement: a requester that would die waits instead when the
   * holder's attempt is decided to commit. Wait-die kills the younger so that
   * no wait-for cycle can form; a holder decided to commit waits for nothing
   * (its locks are only released from here on), so a wait for it closes no
   * cycle, and it saves the victim a restart (a ROLLBACK round, then a PREPARE
   * round) for a lock that is about to be free. A failed look dies, as before.
   */
  async function mayWaitForCommit(
    verdict: "wait" | "die",
    conflict: {
      readonly holder?: string;
      readonly holderStartedAt?: number;
      readonly holderAttempt?: number;
    },
  ): Promise<boolean> {
    const { holder, holderStartedAt, holderAttempt } = conflict;
    if (verdict !== "die" || options.lockPolicy !== "wait-die" || deps.holderCommits === undefined)
      return false;
    if (holder === undefined || holderStartedAt === undefined) return false;
    try {
      return await deps.holderCommits(holder, holderStartedAt, holderAttempt ?? 0);
    } catch (err) {
      log.warn("could not tell whether the lock's holder commits; dying as wait-die says", {
        participant: name,
        holder,
        error: String(err),
      });
      return false;
    }
  }

  /**
   * This attempt died at `holder`'s lock, registered to be woken by its release,
   * and the lock is no longer `holder`'s: the release came. When its wake-up
   * reached the coordinator before the no vote, the coordinator took it for a
   * waiting PREPARE (it sent this very copy again) and the restart would wait
   * for a release that already happened, until the PREPARE re-send interval.
   * Told again, the coordinator starts the restart's next attempt once the
   * attempt is released; a wake-up it had already taken changes nothing.
   */
  function wakeMissed(
    answer: Barrier<S>,
    message: PrepareMessage,
    resources: Iterable<Resource<S>>,
  ): string | undefined {
    const { holder } = answer;
    if (answer.state !== "refused" || answer.restart !== true || holder === undefined) return undefined;
    if (!sameAttempt(answer, message)) return undefined;
    for (const resource of resources) if (resource.lockedBy === holder) return undefined;
    return holder;
  }

  /** Writes this PREPARE's barrier (prepared or refused), or says whose lock it must wait for. */
  async function settleBarrier(message: PrepareMessage): Promise<Settled<S>> {
    const blind = await blindPrepare(message);
    if (blind) return blind;
    const touched = touchedBy(model, message.branches);
    for (let attempt = 0; ; attempt++) {
      const { barrier: existing, resources } = await store.loadForPrepare(name, message.txId, touched);
      const answer = existing ? answerOf(existing, message) : undefined;
      if (answer) {
        const missed = wakeMissed(answer, message, resources.values());
        return { barrier: answer, ...(missed !== undefined ? { missedWake: missed } : {}) };
      }
      const now = clock();
      const base = barrierBase(message, now);
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
          const verdict = onConflict(options.lockPolicy, requester, holder);
          if (verdict === "wait" || (await mayWaitForCommit(verdict, plan))) {
            return {
              waitFor: plan.holder,
              ...(plan.holderAttempt !== undefined ? { holderAttempt: plan.holderAttempt } : {}),
              ...(plan.lockedResource !== undefined ? { resource: plan.lockedResource } : {}),
            };
          }
        }
        // Died under wait-die: the coordinator restarts it with its age (no-wait only refuses),
        // once the lock it died at is released: registered here, that release wakes it.
        const died = options.lockPolicy === "wait-die" && isReason(plan.reason, "lock_conflict");
        const wakeOn =
          died && plan.holder !== undefined && plan.lockedResource !== undefined
            ? (await store.addWaiter(name, plan.lockedResource, plan.holder, {
                txId: message.txId,
                startedAt: message.startedAt,
              }))
              ? plan.holder
              : undefined
            : undefined;
        const barrier: Barrier<S> = {
          ...base,
          state: "refused",
          planned: [],
          reason: plan.reason,
          failedBranch: plan.failedBranch,
          ...(died ? { restart: true } : {}),
          ...(wakeOn !== undefined ? { holder: wakeOn } : {}),
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

  /**
   * Offers the commit of `barrier` to the write its yes vote may decide with
   * (ports/alongside.ts): the last voter's commit then is that write, and no
   * COMMIT comes for it. Only a barrier that holds no lock (reservations alone:
   * nothing waits for its release) of a plain 2PC (an atomic saga stage's is
   * kept until its saga is finished); any other waits for its COMMIT.
   */
  function offerCommit(barrier: Barrier<S>): (() => void) | undefined {
    const { offerCommit: offer } = deps;
    const { commitAlongside } = store;
    const startedAt = alongsideOf(barrier);
    if (!offer || !commitAlongside || startedAt === undefined || !holdsNoLock(barrier)) return undefined;
    return offer(barrier.txId, {
      participant: name,
      attempt: attemptOf(barrier),
      startedAt,
      alongside: (now) => commitAlongside.call(store, barrier, now),
      committed: () => remembered.forget(barrier.txId),
    });
  }

  async function prepare(message: PrepareMessage): Promise<void> {
    crash("before-prepare");
    parked.drop(message.txId);
    const started = clock();
    /** The holder, and its attempt, last reported waiting for. */
    let reported: { readonly holder: string; readonly attempt: number } | undefined;
    let registrations = 0;
    for (let round = 0; ; round++) {
      const settled = await settleBarrier(message);
      if ("barrier" in settled) {
        // Written or read, a prepared barrier of this attempt is the input of its decision's write.
        const mine = settled.barrier.state === "prepared" && sameAttempt(settled.barrier, message);
        if (mine) remembered.remember(settled.barrier);
        crash("after-prepare-before-vote");
        if (!settled.voted) {
          const withdraw = mine ? offerCommit(settled.barrier) : undefined;
          try {
            await bus.toCoordinator(reportOf(settled.barrier));
          } finally {
            withdraw?.();
          }
        }
        if (settled.missedWake !== undefined) {
          await bus.toCoordinator({
            type: "released",
            txId: message.txId,
            participant: name,
            holder: settled.missedWake,
          });
        }
        return;
      }
      // Counted once per PREPARE: on its first delivery, when it first meets a lock.
      if (reported === undefined && !message.waits)
        metrics?.count("concord_lock_waits_total", { participant: name });
      const holding = { holder: settled.waitFor, attempt: settled.holderAttempt ?? 0 };
      const report = async () => {
        if (holding.holder === reported?.holder && holding.attempt === reported.attempt) return;
        // Tell the coordinator once per holder attempt: the sweeper then spaces its copies of this
        // PREPARE by the waiting interval, and under detect the edge feeds deadlock detection.
        await bus.toCoordinator({
          type: "waiting",
          txId: message.txId,
          participant: name,
          holder: settled.waitFor,
          ...(settled.holderAttempt !== undefined ? { holderAttempt: settled.holderAttempt } : {}),
        });
        reported = holding;
      };
      if (clock() - started >= options.waitBudgetMs) {
        // Registered on the locked resource, this copy is done: the holder's commit or
        // rollback wakes it (the coordinator sends PREPARE again). The registration
        // requires the lock still the holder's, so no release slips in between. It
        // comes before the report, right after the look: on a lock that changes hands
        // every few tens of milliseconds, a record write in between would let the
        // holder go first too often. A release between the two is no harm: the wake
        // sends PREPARE again whatever edge the record holds, and the report of a
        // holder that let go closes no cycle (its attempt no longer holds the lock).
        const { resource } = settled;
        const registered =
          resource !== undefined &&
          (await store.addWaiter(name, resource, settled.waitFor, {
            txId: message.txId,
            startedAt: message.startedAt,
          }));
        if (registered) {
          parked.park(message, settled.waitFor, resource);
          await report();
          log.debug("waiting for a lock; registered to be woken", {
            txId: message.txId,
            holder: settled.waitFor,
          });
          return;
        }
        if (++registrations >= MAX_REGISTRATIONS) {
          // The locks keep changing hands under it: wait as a delayed copy instead.
          await report();
          await bus.toParticipant(name, { ...message, waits: (message.waits ?? 0) + 1 }, { delaySeconds: 1 });
          return;
        }
        continue;
      }
      await report();
      await sleep(jitteredBackoffMs(10, round, WAIT_STEP_CAP_MS, Math.random, 0.5));
    }
  }

  async function decide(message: DecisionMessage): Promise<void> {
    const { txId } = message;
    const commit = message.type === "commit";
    if (commit) crash("before-commit");
    let released: Barrier<S> | undefined;
    // The barrier this process prepared for this very decision, if it still remembers it:
    // tried first, as the input of the conditional write only (the store checks it is
    // still prepared for this incarnation and attempt). Refused, it is dropped and read.
    const kept = remembered.get(txId);
    const own = kept !== undefined && sameAttempt(kept, message);
    let cached = own ? kept : undefined;
    for (let races = 0; ; ) {
      const barrier = cached ?? (await store.getBarrier(name, txId));
      const now = clock();
      try {
        if (barrier && sameIncarnation(barrier, message) && attemptOf(barrier) > attemptOf(message)) {
          // A late decision of an earlier attempt: that attempt was released before this
          // barrier's was prepared; this one is not its to touch.
          if (commit) {
            throw new ProtocolViolationError(
              `COMMIT of attempt ${attemptOf(message)} for ${txId} but ${name} is at attempt ${attemptOf(barrier)}`,
            );
          }
        } else if (barrier && sameIncarnation(barrier, message) && attemptOf(barrier) < attemptOf(message)) {
          // This attempt never prepared here; an earlier one's barrier is settled (or its
          // holding is a violation the store's condition refuses): block a late PREPARE.
          if (commit) throw new ProtocolViolationError(`COMMIT for ${txId} but ${name} never prepared it`);
          await store.rollbackUnprepared(name, txId, now, message.startedAt, attemptOf(message));
        } else if (barrier && !sameIncarnation(barrier, message)) {
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
              ...(message.attempt !== undefined ? { attempt: message.attempt } : {}),
              vote: "no",
              reason: "id_reused",
              ...(message.deadline !== undefined && now >= message.deadline ? { final: true } : {}),
            });
            return;
          }
        } else if (!barrier) {
          if (commit) throw new ProtocolViolationError(`COMMIT for ${txId} but ${name} never prepared it`);
          await store.rollbackUnprepared(name, txId, now, message.startedAt, message.attempt);
        } else if (barrier.state === "prepared") {
          await (commit ? store.commit(barrier, now) : store.rollback(barrier, now));
          released = barrier;
        } else if (commit && barrier.state !== "committed") {
          throw new ProtocolViolationError(`COMMIT for ${txId} but ${name}'s barrier is ${barrier.state}`);
        } else if (!commit && barrier.state === "committed") {
          if (barrier.onePhase) {
            // The coordinator asks how a one-phase transaction ended (its deadline passed, or
            // an operator aborted it): it committed here, before the ROLLBACK, and that is the answer.
            crash("after-rollback-before-ack");
            await bus.toCoordinator(committedAck(barrier));
            return;
          }
          throw new ProtocolViolationError(`ROLLBACK for ${txId} but ${name} committed it`);
        } else if (attemptOf(barrier) === attemptOf(message)) {
          // Applied by an earlier delivery, which may have crashed before waking the waiters.
          released = barrier;
        }
        break;
      } catch (err) {
        if (!(err instanceof BarrierConflictError)) throw err;
        if (cached !== undefined) {
          // Settled elsewhere (another delivery, another process): read what is there, at once.
          cached = undefined;
          remembered.forget(txId);
          continue;
        }
        if (++races >= maxRaces) throw err;
        await pause(races - 1);
      }
    }
    // Settled now: its copy has nothing more to do (another attempt's stays).
    if (own) remembered.forget(txId);
    crash(commit ? "after-commit-before-ack" : "after-rollback-before-ack");
    if (released) await wakeWaiters(released);
    await bus.toCoordinator({
      type: "ack",
      txId,
      participant: name,
      decision: commit ? "commit" : "abort",
      ...(message.attempt !== undefined ? { attempt: message.attempt } : {}),
    });
  }

  /**
   * The locks `barrier` held are free: every PREPARE registered as waiting for
   * them is woken, through the coordinator, which holds its message. All of them,
   * oldest first: one that finds the lock taken again registers anew. A crash
   * before this leaves them to the coordinator's PREPARE re-send (the waiting
   * interval), never stranded.
   */
  async function wakeWaiters(barrier: Barrier<S>): Promise<void> {
    const locked = barrier.planned.filter((p) => p.moves === undefined).map((p) => p.id);
    if (locked.length === 0) return;
    const ran = await runOldestParked(barrier.txId, locked);
    const waiters = await store.takeWaiters(name, locked, barrier.txId);
    await Promise.all(
      // The one just run needs no wake-up: its PREPARE was handled here.
      waiters
        .filter((waiter) => waiter !== ran)
        .map((waiter) =>
          bus.toCoordinator({ type: "released", txId: waiter, participant: name, holder: barrier.txId }),
        ),
    );
  }

  /**
   * The oldest PREPARE this process parked waiting for `holder` at `locked`
   * goes first, right after the release and before anyone is told: it takes
   * the lock before a newer PREPARE can (parked-waiters.ts). Its transaction,
   * once handled; a failure leaves it to the wake-up through the coordinator.
   */
  async function runOldestParked(holder: string, locked: readonly string[]): Promise<string | undefined> {
    const next = parked.takeOldest(holder, locked);
    if (next === undefined) return undefined;
    try {
      await prepare(next);
      return next.txId;
    } catch (err) {
      if (deps.fatal?.(err)) throw err;
      log.warn("a parked PREPARE failed; the coordinator's wake-up sends it again", {
        txId: next.txId,
        participant: name,
        error: String(err),
      });
      return undefined;
    }
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
