import type { Logger } from "@aws-lambda-powertools/logger";
import type { ParticipantMessage } from "../core/messages.ts";
import type { Effect } from "../core/step.ts";
import type { TxRecord } from "../core/transaction.ts";
import type { MessageBus } from "../ports/message-bus.ts";

/** A record that cannot give what an effect of its own asks for: a bug, never a retryable fault. */
export class InconsistentRecordError extends Error {
  override name = "InconsistentRecordError";
}

/** The branches a participant prepares: all of its own in 2PC; in a saga, those of its atomic stage. */
function preparedBranches(tx: TxRecord, participant: string): readonly number[] {
  if (tx.protocol === "2pc") return tx.participants.find((p) => p.name === participant)?.branches ?? [];
  for (const stage of tx.stages) {
    const p = stage.atomic?.participants.find((q) => q.name === participant);
    if (p) return p.branches;
  }
  return [];
}

export function messageFor(tx: TxRecord, effect: Effect): ParticipantMessage {
  const base = { txId: tx.id, participant: effect.participant };
  // A restarted 2PC transaction's 2PC messages name their attempt; the first names none.
  const attempt = tx.protocol === "2pc" && tx.attempt !== undefined ? { attempt: tx.attempt } : {};
  switch (effect.kind) {
    case "decision":
      return {
        ...base,
        type: effect.decision === "commit" ? "commit" : "rollback",
        startedAt: tx.createdAt,
        ...(tx.protocol === "2pc" && tx.onePhase ? { onePhase: true, deadline: tx.deadline } : {}),
        ...attempt,
      };
    case "prepare":
      return {
        ...base,
        type: "prepare",
        deadline: tx.deadline,
        startedAt: tx.createdAt,
        ...attempt,
        ...(tx.protocol === "saga" ? { sagaStage: true } : {}),
        ...(tx.protocol === "2pc" && tx.onePhase ? { onePhase: true } : {}),
        ...(tx.protocol === "2pc" && !tx.onePhase ? { voters: tx.participants.length } : {}),
        branches: preparedBranches(tx, effect.participant).map((index) => {
          const branch = tx.branches[index];
          return { index, action: branch?.action ?? "", input: branch?.input };
        }),
      };
    case "action": {
      const branch = tx.branches[effect.branch];
      if (!branch) throw new InconsistentRecordError(`transaction ${tx.id} has no branch ${effect.branch}`);
      return {
        ...base,
        type: "action",
        branch: effect.branch,
        action: branch.action,
        input: branch.input,
        deadline: tx.deadline,
        startedAt: tx.createdAt,
      };
    }
    case "compensate": {
      const compensation = tx.branches[effect.branch]?.compensation;
      if (!compensation) {
        throw new InconsistentRecordError(
          `transaction ${tx.id} has no compensation for branch ${effect.branch}`,
        );
      }
      // Its atomic stage's 2PC commit applied the branch: the participant undoes that.
      const atomic =
        tx.protocol === "saga" && tx.stages.some((s) => s.atomic && s.branches.includes(effect.branch));
      return {
        ...base,
        type: "compensate",
        branch: effect.branch,
        action: compensation.action,
        input: compensation.input,
        startedAt: tx.createdAt,
        ...(atomic ? { atomic: true } : {}),
      };
    }
    case "finished": {
      const branches = tx.branches.flatMap((b, i) => (b.participant === effect.participant ? [i] : []));
      if (branches.length === 0) {
        throw new InconsistentRecordError(`transaction ${tx.id} has no branch at ${effect.participant}`);
      }
      return { ...base, type: "finished", startedAt: tx.createdAt, branches };
    }
  }
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
  log: Logger,
): Promise<void> {
  await Promise.all(
    effects.map(async (effect) => {
      // Outside the try: a message the record cannot give is a bug, not a send to retry.
      const message = messageFor(tx, effect);
      try {
        await bus.toParticipant(effect.participant, message);
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
