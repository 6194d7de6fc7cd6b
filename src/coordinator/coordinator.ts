/** The coordinator function's use case: record votes, waits, acks and step results, decide, tell participants. */
import type { Logger } from "@aws-lambda-powertools/logger";
import type { CoordinatorMessage, VoteMessage } from "../core/messages.ts";
import { withOwnCommit } from "../core/own-commit.ts";
import { withOwnVote } from "../core/own-vote.ts";
import { reasonOf } from "../core/reasons.ts";
import type { Effect, Policy, Step } from "../core/step.ts";
import { isWaiting, type TxRecord } from "../core/transaction.ts";
import { onAck, onReleased, onResult, onVote, onWaiting } from "../core/transitions.ts";
import type { OwnPrepare } from "../ports/alongside.ts";
import { advance, type CoordinatorDeps, type OwnFold } from "./advance.ts";
import { breakCycleThrough } from "./deadlock.ts";

function stepFor(tx: TxRecord, message: CoordinatorMessage, now: number, policy: Policy): Step {
  switch (message.type) {
    case "ack":
      return onAck(tx, message, now, policy);
    case "waiting":
      return onWaiting(tx, message, now, policy);
    case "released":
      return onReleased(tx, message, now, policy);
    case "result":
      return onResult(
        tx,
        {
          participant: message.participant,
          branch: message.branch,
          step: message.step,
          outcome: message.outcome,
          ...(message.reason !== undefined ? { reason: reasonOf(message.reason) } : {}),
        },
        now,
        policy,
      );
    case "vote":
      return onVote(
        tx,
        {
          participant: message.participant,
          vote: message.vote,
          ...(message.reason !== undefined ? { reason: reasonOf(message.reason) } : {}),
          ...(message.failedBranch !== undefined ? { failedBranch: message.failedBranch } : {}),
          ...(message.final ? { final: true } : {}),
          ...(message.attempt !== undefined ? { attempt: message.attempt } : {}),
          ...(message.restart === true ? { restart: true } : {}),
          ...(message.holder !== undefined ? { holder: message.holder } : {}),
        },
        now,
        policy,
      );
  }
}

function effectKey(e: Effect): string {
  switch (e.kind) {
    case "prepare":
      return `p:${e.participant}`;
    case "decision":
      return `d:${e.participant}:${e.decision}`;
    case "action":
      return `a:${e.branch}`;
    case "compensate":
      return `c:${e.branch}`;
    case "finished":
      return `f:${e.participant}`;
  }
}

/** Applies messages for one transaction in order, as one step: one write for the lot. */
export function foldMessages(
  tx: TxRecord,
  messages: readonly CoordinatorMessage[],
  now: number,
  policy: Policy,
): Step {
  let next = tx;
  let changed = false;
  const effects = new Map<string, Effect>();
  for (const message of messages) {
    const step = stepFor(next, message, now, policy);
    next = step.next;
    changed ||= step.changed;
    for (const e of step.effects) effects.set(effectKey(e), e);
  }
  return { next, effects: [...effects.values()], changed };
}

export function createCoordinator(deps: CoordinatorDeps & { readonly policy: Policy }) {
  const { policy, bus, log } = deps;

  /** Messages that all concern one transaction, in the order they were received. */
  async function handleGroup(messages: readonly CoordinatorMessage[]): Promise<void> {
    const txId = messages[0]?.txId;
    if (txId === undefined) return;
    // Lines about this transaction carry its id; the child is made only when there is one
    // to log, since each child is a new Logger and most groups log nothing.
    let txLogger: Logger | undefined;
    const txLog = () => {
      txLogger ??= log.createChild({ persistentKeys: { txId } });
      return txLogger;
    };
    const commit = deps.ownCommit?.(txId);
    const own: OwnFold | undefined = commit && {
      participant: commit.participant,
      fold: (before, step, now) => {
        const folded = withOwnCommit(before, step, commit, now, policy);
        return (
          folded && { step: folded, alongside: commit.alongside(now), written: () => commit.committed() }
        );
      },
    };
    const tx = await advance(
      deps,
      txId,
      (tx, now) => foldMessages(tx, messages, now, policy),
      { beforeDecision: "after-votes-before-decision", afterDecision: "after-decision-before-send" },
      own,
    );
    for (const m of messages) {
      if (m.type === "vote" && m.inquiry) {
        txLog().info("participant in doubt asked for the decision", {
          participant: m.participant,
          state: tx?.state,
        });
      }
    }
    if (tx && isWaiting(tx) && messages.some((m) => m.type === "waiting")) {
      // The wait just recorded may close a cycle: break it now, not at the next sweep.
      try {
        await breakCycleThrough(deps, tx);
      } catch (err) {
        txLog().warn("deadlock check failed; the sweeper's check remains", { error: String(err) });
      }
    }
    if (tx) return;
    for (const m of messages) {
      if (m.type === "vote" && m.vote === "yes") {
        // Presumed abort: no record means no commit was ever decided.
        txLog().warn("vote for an unknown transaction: presumed abort", { participant: m.participant });
        await bus.toParticipant(m.participant, { type: "rollback", txId, participant: m.participant });
      } else if (m.type === "ack") {
        txLog().warn("ack for an unknown transaction", { participant: m.participant });
      } else if (m.type === "result") {
        txLog().warn("step result for an unknown transaction", {
          participant: m.participant,
          branch: m.branch,
          step: m.step,
        });
      }
    }
  }

  /**
   * A yes vote that stands on the prepare it offers (ports/alongside.ts,
   * `OwnPrepare`): recorded in one write with that prepare (or, where it
   * decides to commit, with the participant's branches applied at once), or not
   * at all. Whether it was is what `own.written` hears; when it was not, the
   * participant prepares and votes on its own.
   */
  async function handleVoteWithPrepare(vote: VoteMessage, own: OwnPrepare): Promise<void> {
    const { commit } = own;
    const ownVote = { ...own, canCommit: commit !== undefined };
    await advance(
      deps,
      vote.txId,
      (tx, now) => foldMessages(tx, [vote], now, policy),
      { beforeDecision: "after-votes-before-decision", afterDecision: "after-decision-before-send" },
      {
        participant: own.participant,
        required: true,
        fold: (before, step, now) => {
          const taken = withOwnVote(before, step, ownVote, now, policy);
          if (!taken) return undefined;
          const { part } = taken;
          const alongside = part === "committed" && commit ? commit(now) : own.prepare(now);
          return { step: taken.step, alongside, written: () => own.written(part, now) };
        },
      },
    );
  }

  return {
    handleGroup,
    handleVoteWithPrepare,
    handle: (message: CoordinatorMessage) => handleGroup([message]),
  };
}

export type Coordinator = ReturnType<typeof createCoordinator>;
