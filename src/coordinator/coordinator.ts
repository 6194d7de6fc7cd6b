/** The coordinator function's use case: record votes and acks, decide, tell participants. */
import type { CoordinatorMessage } from "../core/messages.ts";
import { onAck, onVote, type Policy } from "../core/two-phase-commit.ts";
import { advance, type CoordinatorDeps } from "./advance.ts";

export function createCoordinator(deps: CoordinatorDeps & { readonly policy: Policy }) {
  const { policy, bus, log } = deps;

  return {
    async handle(message: CoordinatorMessage): Promise<void> {
      const { txId, participant } = message;
      if (message.type === "ack") {
        const tx = await advance(deps, txId, (tx, now) => onAck(tx, message, now, policy));
        if (!tx) log.warn("ack for an unknown transaction", { txId, participant });
        return;
      }
      const vote = {
        participant,
        vote: message.vote,
        ...(message.reason !== undefined ? { reason: message.reason } : {}),
        ...(message.failedBranch !== undefined ? { failedBranch: message.failedBranch } : {}),
      };
      const tx = await advance(deps, txId, (tx, now) => onVote(tx, vote, now, policy));
      if (!tx && message.vote === "yes") {
        // Presumed abort: no record means no commit was ever decided.
        log.warn("vote for an unknown transaction: presumed abort", { txId, participant });
        await bus.toParticipant(participant, { type: "rollback", txId, participant });
      }
    },
  };
}

export type Coordinator = ReturnType<typeof createCoordinator>;
