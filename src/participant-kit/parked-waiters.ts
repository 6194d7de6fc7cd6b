import { isOlder } from "../core/lock-policy.ts";
import type { PrepareMessage } from "../core/messages.ts";

/**
 * The PREPAREs this process registered as waiting for a lock, kept so that the
 * release, when it happens in this process, can run the oldest at once. The
 * usual wake-up goes through the coordinator (a record write, then the PREPARE
 * again), and on a lock that changes hands every few tens of milliseconds a
 * newer PREPARE that arrives meanwhile takes the lock first, again and again:
 * the oldest waiter starves. A copy is only ever run the way a duplicate of the
 * message would be (the barrier judges it). The registration on the resource
 * stays the record of the wait: a copy lost with the process, or one whose run
 * failed, is woken through the coordinator as before.
 */
export interface ParkedWaiters {
  park(message: PrepareMessage, holder: string, resource: string): void;
  /** A new delivery of the transaction's PREPARE (or its vote) supersedes the copy. */
  drop(txId: string): void;
  /** The oldest copy waiting for `holder` at one of `resources`, taken off. */
  takeOldest(holder: string, resources: readonly string[]): PrepareMessage | undefined;
}

interface Parked {
  readonly message: PrepareMessage;
  readonly holder: string;
  readonly resource: string;
}

/** Bounded: the oldest parked go first (each also waits through the coordinator). */
export function createParkedWaiters(capacity = 4_096): ParkedWaiters {
  const entries = new Map<string, Parked>();
  return {
    park(message, holder, resource) {
      entries.delete(message.txId);
      entries.set(message.txId, { message, holder, resource });
      if (entries.size > capacity) {
        const oldest = entries.keys().next().value;
        if (oldest !== undefined) entries.delete(oldest);
      }
    },
    drop: (txId) => void entries.delete(txId),
    takeOldest(holder, resources) {
      let oldest: PrepareMessage | undefined;
      for (const { message, holder: h, resource } of entries.values()) {
        if (h !== holder || !resources.includes(resource)) continue;
        const age = { id: message.txId, startedAt: message.startedAt };
        if (oldest === undefined || isOlder(age, { id: oldest.txId, startedAt: oldest.startedAt })) {
          oldest = message;
        }
      }
      if (oldest !== undefined) entries.delete(oldest.txId);
      return oldest;
    },
  };
}
