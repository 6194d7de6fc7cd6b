/** Message faults for tests: wrap the real bus to drop, duplicate or record what passes. */

import type { CoordinatorMessage, ParticipantMessage } from "../../src/core/messages.ts";
import type { MessageBus } from "../../src/ports/message-bus.ts";

export type Sent =
  | { to: "coordinator"; message: CoordinatorMessage }
  | { to: string; message: ParticipantMessage };

/** Sends every message twice: once now, once again a little later. */
export function duplicating(bus: MessageBus, laterMs = 30): MessageBus {
  const again = (send: () => Promise<void>) => {
    setTimeout(() => void send().catch(() => {}), laterMs);
  };
  return {
    async toCoordinator(m) {
      await bus.toCoordinator(m);
      again(() => bus.toCoordinator(m));
    },
    async toParticipant(p, m, o) {
      await bus.toParticipant(p, m, o);
      again(() => bus.toParticipant(p, m, o));
    },
  };
}

/** Drops the messages `drop` picks; the sender believes they were sent. */
export function dropping(bus: MessageBus, drop: (sent: Sent) => boolean): MessageBus {
  return {
    toCoordinator: (m) =>
      drop({ to: "coordinator", message: m }) ? Promise.resolve() : bus.toCoordinator(m),
    toParticipant: (p, m, o) =>
      drop({ to: p, message: m }) ? Promise.resolve() : bus.toParticipant(p, m, o),
  };
}

/** Records messages instead of sending them. */
export function recording(): MessageBus & { readonly sent: Sent[] } {
  const sent: Sent[] = [];
  return {
    sent,
    async toCoordinator(message) {
      sent.push({ to: "coordinator", message });
    },
    async toParticipant(to, message) {
      sent.push({ to, message });
    },
  };
}

/** Holds back the messages `hold` picks until `release` sends them, one by one, in order. */
export function holding(bus: MessageBus, hold: (sent: Sent) => boolean) {
  const held: (() => Promise<void>)[] = [];
  const wrapped: MessageBus = {
    toCoordinator: (m) => bus.toCoordinator(m),
    async toParticipant(p, m, o) {
      if (hold({ to: p, message: m })) held.push(() => bus.toParticipant(p, m, o));
      else await bus.toParticipant(p, m, o);
    },
  };
  return {
    bus: wrapped,
    held: () => held.length,
    /** Sends the oldest held message. */
    async releaseNext(): Promise<void> {
      const send = held.shift();
      if (!send) throw new Error("nothing held");
      await send();
    },
  };
}
