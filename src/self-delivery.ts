/**
 * Self-delivery: a message that the coordinator's handling, running in
 * participant P's invocation because P answered directly (direct answers,
 * src/coordinator/direct-inbox.ts), sends to P itself is handled by P in that
 * invocation instead of through P's queue. The COMMIT or ROLLBACK to the last
 * voter, and the PREPARE re-sent to the participant whose release woke its
 * waiter (the lock's hand-off), each save a SendMessage, a ReceiveMessage, a
 * DeleteMessage and a queue hop. Only to P: never to another participant that
 * happens to run in the same process (the local runtime, the bench), so what is
 * counted there is what AWS, one Lambda per participant, would do. The
 * dispatcher does the same for the HTTP participant a message of its was for.
 *
 * How: the role wraps its handler (`deliveringToSelf`); each message is handled
 * in a scope (async context) naming the participant it is for. The direct inbox
 * captures the scope of each answer and applies a group under it (under none
 * when the group mixes participants); the bus (`holdingForSelf`) keeps a
 * message to that participant in the scope instead of sending it. Once the
 * handler's message is done, the scope closes and what it holds is handled.
 *
 * Why it is safe:
 * - Durable first: the coordinator sends only after the write that produced the
 *   message is durable (advance: write, then dispatch), so a held message, like
 *   a sent one, stands on a durable record.
 * - No deadlock: a held message is handled after the handler's own message, so
 *   after the direct answer's group was applied, never inside it: the ack of a
 *   COMMIT handled inside the vote's group would wait in the direct inbox behind
 *   that very group.
 * - Bounded: a held message is handled under a scope of its own only once
 *   (`MAX_DEPTH`): the COMMIT to the last voter may release a lock, and the
 *   PREPARE of the waiter that wakes is handed over here too (the lock's
 *   hand-off); what the handling of that PREPARE sends to P goes through the
 *   queue. A scope that has closed holds nothing more: a late send (a timer
 *   started in it) is sent.
 * - Nothing lost: when handling a held message fails, it is sent to P's queue,
 *   as it would have been (and when that send fails, the coordinator's re-send
 *   covers it). When the process dies between holding and handling, the message
 *   is lost as a lost SQS message is, and the coordinator's record still names
 *   it: a decision is sent again every decisionRetryMs until acknowledged, a
 *   PREPARE every prepareRetryMs (waitingRetryMs while waiting) until voted on.
 * - Same path as a delivery: the handler is the one the queue's records run
 *   (barriers, crash points, metrics), under the sender's trace and the same log
 *   keys; duplicates and order are the barriers' business, as for any delivery.
 * - Only undelayed sends are held: a delayed one (a PREPARE waiting its turn)
 *   means to wait.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { Logger } from "@aws-lambda-powertools/logger";
import { oldestFirst } from "./core/lock-policy.ts";
import { type ParticipantMessage, participantMessage } from "./core/messages.ts";
import type { Crash } from "./crash-points.ts";
import type { OwnCommit } from "./ports/alongside.ts";
import type { MessageBus } from "./ports/message-bus.ts";
import { currentTraceparent, type LogKeys, withScope } from "./trace-context.ts";

/** The handling of one message for `participant`, and what was sent to that participant meanwhile. */
export interface SelfScope {
  readonly participant: string;
  /** 1 for a delivery from the queue, 2 for a held message handled here. */
  readonly depth: number;
  readonly held: Held[];
  /** Until the handler's message is done; closed, nothing more is held. */
  open: boolean;
  /** Commits offered for the write that applies this handling's vote, by transaction (`offerOwnCommit`). */
  offers?: Map<string, OwnCommit>;
}

interface Held {
  readonly message: ParticipantMessage;
  /** The sender's trace, as a queued message's attribute would carry it. */
  readonly traceparent: string | undefined;
}

const storage = new AsyncLocalStorage<SelfScope | undefined>();

/** Scopes nest this deep: a queued message, and one held message handled after it. */
const MAX_DEPTH = 2;

/** The handling the current work belongs to, if it is one that delivers to itself. */
export const currentSelf = (): SelfScope | undefined => storage.getStore();

/** Runs `work` as part of `self` (undefined: of none). */
export const runAsSelf = <T>(self: SelfScope | undefined, work: () => T): T => storage.run(self, work);

/**
 * The scope a group of answers applied together runs under: theirs when they
 * all come from handlings of one participant, else none (answers of several
 * participants meet only where they share a process, which AWS never does).
 */
export function selfOfGroup(selves: readonly (SelfScope | undefined)[]): SelfScope | undefined {
  const [first] = selves;
  if (!first) return undefined;
  return selves.every((s) => s?.participant === first.participant) ? first : undefined;
}

/** Keeps `message` in the current scope when it is for that scope's participant and the scope is open. */
export function holdForSelf(participant: string, message: ParticipantMessage): boolean {
  const self = storage.getStore();
  if (!self?.open || self.participant !== participant || message.participant !== participant) return false;
  self.held.push({ message, traceparent: currentTraceparent() });
  return true;
}

/**
 * Offers the participant's commit of `txId` to the coordinator's handling of
 * its vote, in this very scope (ports/alongside.ts): the last voter's COMMIT
 * to itself, held here, would be handled after the vote anyway; written with
 * the decision, it costs no write of its own and no ack. Returns the
 * withdrawal, for once the vote is applied. Outside an open scope of that
 * participant nothing is offered.
 */
export function offerOwnCommit(txId: string, commit: OwnCommit): () => void {
  const self = storage.getStore();
  if (!self?.open || self.participant !== commit.participant) return () => {};
  self.offers ??= new Map();
  const { offers } = self;
  offers.set(txId, commit);
  return () => {
    if (offers.get(txId) === commit) offers.delete(txId);
  };
}

/** The commit offered for `txId` in the current scope (the group's, when the coordinator's handling applies it). */
export const ownCommitOffered = (txId: string): OwnCommit | undefined =>
  storage.getStore()?.offers?.get(txId);

/** `bus`, except that an undelayed message to the current scope's participant is held for it. */
export const holdingForSelf = (bus: MessageBus): MessageBus => ({
  toCoordinator: (message) => bus.toCoordinator(message),
  toParticipant: (participant, message, options) =>
    !options?.delaySeconds && holdForSelf(participant, message)
      ? Promise.resolve()
      : bus.toParticipant(participant, message, options),
});

/** Oldest transaction first, by the lock policies' own order (startedAt, then id); only PREPAREs carry an age. */
const byAge = (a: Held, b: Held): number => {
  const age = ({ message: m }: Held) => ({ id: m.txId, startedAt: m.type === "prepare" ? m.startedAt : 0 });
  return oldestFirst(age(a), age(b));
};

export interface SelfDeliveryDeps {
  /** Where a held message goes when handling it here failed: its queue. */
  readonly fallback: MessageBus["toParticipant"];
  readonly log: Logger;
  /** The log keys a queued message is handled under (its transaction). */
  readonly keysOf: (message: ParticipantMessage) => LogKeys;
  /** `before-self-delivery`: between holding a message and handling it. */
  readonly crash?: Crash;
  /**
   * Errors that end the invocation (the simulation's crash): they propagate, with
   * nothing handled or sent after them, as a process that died sends nothing.
   */
  readonly fatal?: (err: unknown) => boolean;
  /**
   * Hands over held PREPAREs one after another, oldest transaction first (the
   * rest at once): a release that wakes several waiters then gives the lock to
   * the oldest, and the others queue behind it. For the detect lock policy,
   * where waiters otherwise race for the lock with no age order; under wait-die
   * the youngest would then die at the oldest's lock, so it keeps the race.
   */
  readonly oldestFirst?: boolean;
}

/** `handle`, handling after each message what the coordinator's handling sent its participant meanwhile. */
export function deliveringToSelf(
  handle: (message: ParticipantMessage) => Promise<void>,
  deps: SelfDeliveryDeps,
): (message: ParticipantMessage) => Promise<void> {
  const { fallback, log, keysOf, crash, fatal } = deps;

  async function deliver({ message, traceparent }: Held, depth: number): Promise<void> {
    const self: SelfScope | undefined =
      depth <= MAX_DEPTH ? { participant: message.participant, depth, held: [], open: true } : undefined;
    await runAsSelf(self, () =>
      withScope(traceparent, keysOf(message), async () => {
        try {
          crash?.("before-self-delivery");
          // Parsed as a queued body would be: the handler sees what a delivery gives it.
          await handle(participantMessage.parse(message));
        } catch (err) {
          if (fatal?.(err)) throw err;
          log.warn("handling a message to itself failed; it goes through its queue", {
            participant: message.participant,
            type: message.type,
            error: String(err),
          });
          try {
            // Outside any scope: the bus would hold it again in this very one, still open.
            await runAsSelf(undefined, () => fallback(message.participant, message));
          } catch (sendErr) {
            log.error("send failed; the coordinator's re-send covers it", {
              participant: message.participant,
              type: message.type,
              error: String(sendErr),
            });
          }
        }
      }),
    );
    // What its handling held stands on durable writes, whether or not it then failed.
    if (self) await drain(self);
  }

  async function drain(self: SelfScope): Promise<void> {
    self.open = false;
    const depth = self.depth + 1;
    if (!deps.oldestFirst) {
      await Promise.all(self.held.map((held) => deliver(held, depth)));
      return;
    }
    const prepares = self.held.filter((h) => h.message.type === "prepare").sort(byAge);
    const others = self.held.filter((h) => h.message.type !== "prepare");
    await Promise.all([
      ...others.map((held) => deliver(held, depth)),
      (async () => {
        for (const held of prepares) await deliver(held, depth);
      })(),
    ]);
  }

  return async (message) => {
    const self: SelfScope = { participant: message.participant, depth: 1, held: [], open: true };
    try {
      await runAsSelf(self, () => handle(message));
    } catch (err) {
      // What was held stands on durable writes whatever became of this message; unless the process died.
      if (!fatal?.(err)) await drain(self);
      throw err;
    }
    await drain(self);
  };
}
