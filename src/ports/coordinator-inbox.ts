import type { CoordinatorMessage } from "../core/messages.ts";

/**
 * Where a participant's answers reach the coordinator: votes, acks, saga step
 * results, lock waits, wake-ups of waiters (`released`) and in-doubt
 * inquiries. Called by the participant kit and
 * the HTTP dispatcher; served by the coordinator queue (the SQS bus) or, where
 * the coordinator's handling runs in the caller's own invocation, by the direct
 * inbox (src/coordinator/direct-inbox.ts), which falls back to the queue. The
 * caller cannot tell which: either way the message is applied at least once, or
 * the call rejects and the caller's own message comes back.
 */
export interface CoordinatorInbox {
  toCoordinator(message: CoordinatorMessage): Promise<void>;
}
