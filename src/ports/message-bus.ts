import type { ParticipantMessage } from "../core/messages.ts";
import type { CoordinatorInbox } from "./coordinator-inbox.ts";

/**
 * Where messages go. The protocol only names the recipient; the bus knows the
 * queues: a built-in participant's own, or the dispatcher's for an HTTP participant.
 * Called by the coordinator, the sweeper, the participant kit and the dispatcher;
 * served by the SQS adapter (and wrapped by fault tests). Its `toCoordinator`
 * is the coordinator queue; a participant role may be given a bus whose
 * `toCoordinator` is the direct inbox instead (see CoordinatorInbox).
 */
export interface MessageBus extends CoordinatorInbox {
  toParticipant(participant: string, message: ParticipantMessage, options?: SendOptions): Promise<void>;
}

export interface SendOptions {
  /** Hold the message back this long (SQS DelaySeconds, 0-900). */
  readonly delaySeconds?: number;
}
