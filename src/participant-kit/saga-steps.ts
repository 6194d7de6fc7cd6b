/**
 * A participant's side of a saga: run one branch's action, or its compensation,
 * through the step barrier (participant, txId, branch), and tell the coordinator
 * what became of it (`result`).
 *
 * | step barrier             | action                        | compensate                                    |
 * | ------------------------ | ----------------------------- | --------------------------------------------- |
 * | none                     | plan: done (writes) or failed | compensated, no writes (blocks a late action) |
 * | done                     | done again                    | compensation's writes + compensated           |
 * | failed                   | failed again (same reason)    | compensated, no writes                        |
 * | compensated              | failed, reason "compensated"  | done again                                    |
 * | an earlier incarnation's | failed, reason "id_reused"    | compensated over it, no writes                |
 * | a later incarnation's    | failed, reason "id_reused"    | done, nothing written                         |
 *
 * Incarnations: an id may be used again once its record has expired, while an
 * earlier transaction's step barrier lingers (`txStartedAt` tells them apart).
 * A compensation records its own `compensated` over an earlier one's, as it
 * would in an empty slot: answering `done` with nothing written would let a
 * copy of it, once the old barrier expired, write `compensated` after an
 * earlier stage's compensation began, or a late copy of the action apply.
 *
 * `done`, `failed` and `compensated` are written before the result leaves.
 * `retry` writes nothing: a resource locked by a 2PC transaction, an external
 * service that failed, or a compensation that cannot apply yet (compensations
 * are retried until they succeed).
 *
 * An atomic stage's branch ran through 2PC, not as a step: "did the action
 * run" is then "did this participant's 2PC barrier commit". A compensation that
 * finds no 2PC barrier writes a rolled_back one first, so a late PREPARE of that
 * stage can never apply what was just judged not to have happened.
 */
import type { ActionMessage, CompensateMessage, ResultMessage } from "../core/messages.ts";
import { isReason } from "../core/reasons.ts";
import type { Barrier, StepBarrier } from "./barriers.ts";
import { BarrierConflictError, ProtocolViolationError, RetryLaterError } from "./errors.ts";
import type { KitDeps } from "./kit-deps.ts";
import { type BranchRequest, planGroup, touchedBy } from "./planning.ts";
import type { ResourceState } from "./resource-model.ts";

type Outcome = {
  readonly outcome: ResultMessage["outcome"];
  readonly reason?: string;
  readonly wrote: boolean;
};

const done = (wrote: boolean): Outcome => ({ outcome: "done", wrote });
const failed = (reason: string | undefined, wrote: boolean): Outcome => ({
  outcome: "failed",
  wrote,
  ...(reason !== undefined ? { reason } : {}),
});
const retry = (reason: string): Outcome => ({ outcome: "retry", reason, wrote: false });

/** What an existing step barrier answers to its action, delivered again or late. */
function actionAnswer(step: StepBarrier, startedAt: number): Outcome {
  // An earlier transaction's barrier under a reused id: never this transaction's answer.
  if (step.txStartedAt !== startedAt) return failed("id_reused", false);
  switch (step.state) {
    case "done":
      return done(false);
    case "failed":
      return failed(step.reason, false);
    case "compensated":
      // Compensated first: the action is blocked for good, it never applies.
      return failed("compensated", false);
  }
}

export function createSagaSteps<S extends ResourceState>(deps: KitDeps<S>) {
  const { name, model, store, bus, clock, log, crash, pause, service, maxRaces, lockMode } = deps;

  async function reply(
    message: ActionMessage | CompensateMessage,
    step: ResultMessage["step"],
    result: Outcome,
  ): Promise<void> {
    if (result.wrote) crash("after-step-before-result");
    await bus.toCoordinator({
      type: "result",
      txId: message.txId,
      participant: name,
      branch: message.branch,
      step,
      outcome: result.outcome,
      ...(result.reason !== undefined ? { reason: result.reason.slice(0, 200) } : {}),
    });
  }

  /** Asks the external service, if any; its transient failure is a `retry`. */
  async function serviceRefuses(
    step: "action" | "compensation",
    message: ActionMessage | CompensateMessage,
    branch: BranchRequest,
  ): Promise<Outcome | undefined> {
    try {
      await service?.({
        step,
        participant: name,
        txId: message.txId,
        startedAt: message.startedAt,
        branches: [branch],
      });
      return undefined;
    } catch (err) {
      if (err instanceof RetryLaterError) return retry(err.reason);
      throw err;
    }
  }

  /**
   * Runs `attempt` again after a lost race on the barrier, or when it wrote
   * something to judge on ("again"), a bounded number of times.
   */
  async function withRaces(attempt: () => Promise<Outcome | "again">): Promise<Outcome> {
    for (let race = 0; ; race++) {
      try {
        const result = await attempt();
        if (result !== "again") return result;
        if (race + 1 >= maxRaces) throw new Error(`step still undecided after ${maxRaces} attempts`);
      } catch (err) {
        if (!(err instanceof BarrierConflictError) || race + 1 >= maxRaces) throw err;
        await pause(race);
      }
    }
  }

  async function runAction(message: ActionMessage): Promise<Outcome> {
    const branch = { index: message.branch, action: message.action, input: message.input };
    const touched = touchedBy(model, [branch]);
    return withRaces(async () => {
      const { step, resources } = await store.loadForStep(name, message.txId, message.branch, touched, false);
      if (step) return actionAnswer(step, message.startedAt);
      const now = clock();
      const base = {
        participant: name,
        txId: message.txId,
        branch: message.branch,
        action: message.action,
        txStartedAt: message.startedAt,
        createdAt: now,
      };
      if (now >= message.deadline) {
        // The coordinator compensates at the deadline anyway; applying now would only add work.
        await store.writeStep({ ...base, state: "failed", reason: "timeout" }, undefined, [], now);
        return failed("timeout", true);
      }
      const plan = planGroup(model, [branch], resources, undefined, lockMode);
      if (plan.vote === "no") {
        if (isReason(plan.reason, "lock_conflict")) return retry("lock_conflict");
        await store.writeStep({ ...base, state: "failed", reason: plan.reason }, undefined, [], now);
        log.info("action failed", {
          txId: message.txId,
          participant: name,
          branch: message.branch,
          reason: plan.reason,
        });
        return failed(plan.reason, true);
      }
      const refused = await serviceRefuses("action", message, branch);
      if (refused) return refused;
      await store.writeStep({ ...base, state: "done" }, undefined, plan.planned, now);
      return done(true);
    });
  }

  /** Whether an atomic stage's 2PC applied this branch, read from the 2PC barrier. */
  function atomicRan(barrier: Barrier<S>, message: CompensateMessage): boolean | "undecided" {
    if (barrier.txStartedAt !== undefined && barrier.txStartedAt !== message.startedAt) return false;
    switch (barrier.state) {
      case "prepared":
        return "undecided";
      case "committed":
        if (barrier.branches !== undefined && !barrier.branches.includes(message.branch)) {
          throw new ProtocolViolationError(
            `atomic compensation of branch ${message.branch} of ${message.txId}, but ${name}'s 2PC barrier holds branches ${barrier.branches.join(",")}`,
          );
        }
        return true;
      case "refused":
      case "rolled_back":
        return false;
    }
  }

  async function runCompensation(message: CompensateMessage): Promise<Outcome> {
    const branch = { index: message.branch, action: message.action, input: message.input };
    const touched = touchedBy(model, [branch]);
    const atomic = message.atomic === true;
    return withRaces(async () => {
      const loaded = await store.loadForStep(name, message.txId, message.branch, touched, atomic);
      const { step, barrier, resources } = loaded;
      // A step barrier of another transaction under this id (its record expired and
      // the id was used again) is never this one's.
      const own = step?.txStartedAt === message.startedAt ? step : undefined;
      if (step && step.txStartedAt > message.startedAt) {
        // A late copy of an earlier transaction's compensation (that saga is over, its
        // record gone): the barrier is a later transaction's, never touched from here.
        log.warn("compensation meets a later transaction's barrier under its id; nothing to undo", {
          txId: message.txId,
          participant: name,
          branch: message.branch,
        });
        return done(false);
      }
      // An atomic branch was applied by its stage's 2PC commit, which no step barrier
      // stops: whether it ran is read from the 2PC barrier below, whatever step barrier is here.
      if (own?.state === "compensated") return done(false);
      const now = clock();
      let ran: boolean;
      if (atomic) {
        if (!barrier) {
          // Blocks a late PREPARE of the stage, then judges again on the rolled_back barrier.
          await store.rollbackUnprepared(name, message.txId, now, message.startedAt);
          return "again";
        }
        const judged = atomicRan(barrier, message);
        // The stage's decision has not reached this participant yet: its COMMIT or ROLLBACK will.
        if (judged === "undecided") return retry("awaiting_decision");
        ran = judged;
      } else {
        // An earlier transaction's barrier here refused this one's action (id_reused): it never ran.
        ran = own?.state === "done";
      }
      // Written over an earlier transaction's barrier too (final, its saga long over): a later
      // copy of this compensation, or a late action, of this transaction must meet this one's
      // tombstone even once the earlier barrier has expired, not an empty slot.
      const next: StepBarrier = {
        participant: name,
        txId: message.txId,
        branch: message.branch,
        state: "compensated",
        txStartedAt: message.startedAt,
        createdAt: own?.createdAt ?? now,
        compensatedAt: now,
        ...(own?.action !== undefined ? { action: own.action } : {}),
        ...(own?.reason !== undefined ? { reason: own.reason } : {}),
      };
      if (!ran) {
        await store.writeStep(next, step, [], now);
        return done(true);
      }
      const plan = planGroup(model, [branch], resources, undefined, lockMode);
      if (plan.vote === "no") {
        if (!isReason(plan.reason, "lock_conflict")) {
          log.warn("compensation cannot apply; the coordinator will send it again", {
            txId: message.txId,
            participant: name,
            branch: message.branch,
            reason: plan.reason,
            metric: "CompensationBlocked",
          });
        }
        return retry(plan.reason);
      }
      const refused = await serviceRefuses("compensation", message, branch);
      if (refused) return refused;
      await store.writeStep(next, step, plan.planned, now);
      return done(true);
    });
  }

  return {
    async action(message: ActionMessage): Promise<void> {
      await reply(message, "action", await runAction(message));
    },
    async compensate(message: CompensateMessage): Promise<void> {
      await reply(message, "compensation", await runCompensation(message));
    },
  };
}
