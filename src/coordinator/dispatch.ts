import type { MessageBus } from "../adapters/sqs-bus.ts";
import type { ParticipantMessage } from "../core/messages.ts";
import type { TxRecord } from "../core/transaction.ts";
import type { Effect } from "../core/two-phase-commit.ts";
import type { Log } from "../log.ts";

export function messageFor(tx: TxRecord, effect: Effect): ParticipantMessage {
  const base = { txId: tx.id, participant: effect.participant };
  if (effect.kind === "decision")
    return { ...base, type: effect.decision === "commit" ? "commit" : "rollback" };
  const participant = tx.participants.find((p) => p.name === effect.participant);
  return {
    ...base,
    type: "prepare",
    deadline: tx.deadline,
    startedAt: tx.createdAt,
    branches: (participant?.branches ?? []).map((index) => {
      const branch = tx.branches[index];
      return { index, action: branch?.action ?? "", input: branch?.input };
    }),
  };
}

/**
 * Sends what a durable record committed to. A send that fails after the SDK's
 * own retries is logged and left to the sweeper: the record is still due, so
 * the message goes out again at its due time.
 */
export async function dispatch(
  tx: TxRecord,
  effects: readonly Effect[],
  bus: MessageBus,
  log: Log,
): Promise<void> {
  await Promise.all(
    effects.map(async (effect) => {
      try {
        await bus.toParticipant(effect.participant, messageFor(tx, effect));
      } catch (err) {
        log.error("send failed; the sweeper will send it again", {
          txId: tx.id,
          participant: effect.participant,
          effect: effect.kind,
          dueAt: tx.dueAt,
          error: String(err),
        });
      }
    }),
  );
}
