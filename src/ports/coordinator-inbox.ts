import type { CoordinatorMessage, VoteMessage } from "../core/messages.ts";
import type { OwnPrepare } from "./alongside.ts";

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

/**
 * Where a participant's yes vote can be applied with the prepare it stands on
 * (`OwnPrepare`): only the direct inbox, in the participant's own invocation.
 * Resolves whether or not the vote was taken (`own.written` says); never sends
 * it anywhere else, where it would stand without its prepare.
 */
export interface VoteWithPrepare {
  voteWithPrepare(vote: VoteMessage, own: OwnPrepare): Promise<void>;
}
