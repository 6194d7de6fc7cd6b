/**
 * Direct votes and acks: a participant's answer applied by the coordinator's own
 * handling in the participant's invocation, instead of a trip through the
 * coordinator queue. The same `handleGroup` the coordinator queue's batches
 * run: the same transitions, the same conditional write (through `advance`, on
 * the process's record cache), the same decision sends, batched per queue by
 * the bus. What it saves per answer is the queue's send, receive and delete,
 * and the hop's latency before the decision.
 *
 * Nothing may be lost on the way: when the direct attempt fails (a throttled or
 * failed write, a record that kept changing), the message goes to the
 * coordinator queue as before, and the coordinator applies it there. A write
 * that was durable before the failure is applied twice, which every transition
 * takes as once. Only when that send fails too does the caller's promise reject:
 * the participant's own message then comes back and answers again.
 *
 * A group is applied as part of the handling its answers came from (when they
 * all came from one participant's): what it sends that participant is handled
 * there once its message is done (src/self-delivery.ts).
 *
 * A yes vote with the prepare it stands on (`voteWithPrepare`, ports/alongside.ts
 * `OwnPrepare`) waits its turn with the answers of its transaction and is then
 * applied alone: written with its part, or not at all. It never takes the
 * queue, where it would be applied without its prepare; when it is not
 * written, the participant prepares and votes on its own.
 */
import type { Logger } from "@aws-lambda-powertools/logger";
import type { CoordinatorMessage, VoteMessage } from "../core/messages.ts";
import type { OwnPrepare } from "../ports/alongside.ts";
import type { CoordinatorInbox, VoteWithPrepare } from "../ports/coordinator-inbox.ts";
import { currentSelf, runAsSelf, type SelfScope, selfOfGroup } from "../self-delivery.ts";

export interface DirectInboxDeps {
  /** The coordinator's message handling (createCoordinator's `handleGroup`). */
  readonly handleGroup: (messages: readonly CoordinatorMessage[]) => Promise<void>;
  /** A vote with its prepare (createCoordinator's `handleVoteWithPrepare`); without it, none is taken. */
  readonly handleVoteWithPrepare?: (vote: VoteMessage, own: OwnPrepare) => Promise<void>;
  /** Where a message goes when it cannot be applied here: the coordinator queue. */
  readonly fallback: CoordinatorInbox;
  readonly log: Logger;
  /**
   * Errors that end the invocation, not just this attempt (the simulation's
   * crash): they propagate as they are, with no send to the queue.
   */
  readonly fatal?: (err: unknown) => boolean;
}

interface Waiting {
  /** The handling that answered: what the group sends its participant is held for it. */
  readonly self: SelfScope | undefined;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

/** An answer, or a vote that stands on the prepare it offers: applied alone, and never through the queue. */
type Waiter =
  | (Waiting & { readonly message: CoordinatorMessage; readonly own?: undefined })
  | (Waiting & { readonly message: VoteMessage; readonly own: OwnPrepare });

/**
 * Answers for one transaction that meet in this process while one of them is
 * being applied (two acks, two votes from participants of one process) wait
 * and are applied together next, in arrival order, as one group and one write,
 * as a batch from the queue would be: they would otherwise race for the same
 * version and one write would fail its condition.
 */
export function createDirectInbox(deps: DirectInboxDeps): CoordinatorInbox & VoteWithPrepare {
  const { handleGroup, handleVoteWithPrepare, fallback, log, fatal } = deps;
  /** Transactions with a group being applied, and the answers that wait behind it. */
  const waiting = new Map<string, Waiter[]>();

  async function viaQueue(waiter: Waiter, err: unknown): Promise<void> {
    const { message } = waiter;
    log.warn("direct delivery failed; the message goes through the coordinator queue", {
      txId: message.txId,
      participant: message.participant,
      type: message.type,
      error: String(err),
    });
    try {
      await fallback.toCoordinator(message);
      waiter.resolve();
    } catch (sendErr) {
      waiter.reject(sendErr);
    }
  }

  /** Answers applied together, as one group under their handling's scope; else each through the queue. */
  async function applyGroup(group: readonly Waiter[]): Promise<void> {
    try {
      // Under its answers' own handling, not the context the first of them started this chain in.
      const self = selfOfGroup(group.map((w) => w.self));
      await runAsSelf(self, () => handleGroup(group.map((w) => w.message)));
      for (const w of group) w.resolve();
    } catch (err) {
      if (fatal?.(err)) for (const w of group) w.reject(err);
      else await Promise.all(group.map((w) => viaQueue(w, err)));
    }
  }

  /**
   * A vote with its prepare, alone: written with its part or not at all. It never
   * goes through the queue, where it would be applied without the prepare; when
   * applying it fails, the participant, which hears of no write, prepares and
   * votes on its own.
   */
  async function applyWithPrepare(waiter: Waiting, vote: VoteMessage, own: OwnPrepare): Promise<void> {
    try {
      await runAsSelf(waiter.self, () => handleVoteWithPrepare?.(vote, own));
      waiter.resolve();
    } catch (err) {
      if (fatal?.(err)) {
        waiter.reject(err);
        return;
      }
      log.warn("a vote with its prepare could not be applied; the participant prepares on its own", {
        txId: vote.txId,
        participant: vote.participant,
        error: String(err),
      });
      waiter.resolve();
    }
  }

  /** `group` in arrival order: answers together, each vote with its prepare on its own. */
  async function apply(txId: string, group: readonly Waiter[]): Promise<void> {
    let answers: Waiter[] = [];
    for (const waiter of group) {
      if (waiter.own === undefined) {
        answers.push(waiter);
        continue;
      }
      if (answers.length > 0) await applyGroup(answers);
      answers = [];
      await applyWithPrepare(waiter, waiter.message, waiter.own);
    }
    if (answers.length > 0) await applyGroup(answers);
    const next = waiting.get(txId);
    if (next && next.length > 0) {
      waiting.set(txId, []);
      await apply(txId, next);
    } else waiting.delete(txId);
  }

  /** Applies `waiter` now, or behind the group of its transaction being applied. */
  function enqueue(waiter: Waiter): void {
    const { txId } = waiter.message;
    const behind = waiting.get(txId);
    if (behind) {
      behind.push(waiter);
      return;
    }
    waiting.set(txId, []);
    void apply(txId, [waiter]);
  }

  return {
    toCoordinator: (message) =>
      new Promise<void>((resolve, reject) => enqueue({ message, self: currentSelf(), resolve, reject })),
    voteWithPrepare: (vote, own) =>
      handleVoteWithPrepare === undefined
        ? Promise.resolve()
        : new Promise<void>((resolve, reject) =>
            enqueue({ message: vote, own, self: currentSelf(), resolve, reject }),
          ),
  };
}
