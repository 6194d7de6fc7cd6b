/**
 * A yes vote written with the prepare it stands on (ports/alongside.ts,
 * `OwnPrepare`): the participant has not prepared yet, and offers its prepare
 * as a part of the write that records the vote. A new path is a new
 * transition: which part the step that takes the vote writes, if any. Pure.
 */
import { withOwnCommit } from "./own-commit.ts";
import type { Policy, Step } from "./step.ts";
import { attemptOf, type TxRecord } from "./transaction.ts";

export interface OwnVote {
  readonly participant: string;
  readonly attempt: number;
  /** The incarnation the PREPARE was for (its record's createdAt). */
  readonly startedAt: number;
  /** Whether the participant can apply its branches at once (it offered its commit). */
  readonly canCommit: boolean;
}

export interface VoteWithPart {
  readonly step: Step;
  /**
   * What the write does at the participant: `prepared` (the vote is recorded,
   * undecided), or `committed` (the vote decides to commit: its branches are
   * applied at once, its ack recorded and its COMMIT dropped, as
   * `withOwnCommit` does for a participant that prepared before).
   */
  readonly part: "prepared" | "committed";
}

/**
 * When `step` (taken on `before`, a 2PC still preparing) records `own`'s yes
 * vote at `own.attempt`, where none was recorded: that step with the part it
 * is written with. Undefined otherwise (the vote changes nothing, comes too
 * late, or the step decides to abort): the step may not be written, since the
 * vote stands on a prepare that is not there.
 */
export function withOwnVote(
  before: TxRecord,
  step: Step,
  own: OwnVote,
  now: number,
  policy: Policy,
): VoteWithPart | undefined {
  const { next } = step;
  if (before.protocol !== "2pc" || next.protocol !== "2pc" || before.state !== "preparing") return undefined;
  if (before.onePhase || before.createdAt !== own.startedAt) return undefined;
  if (attemptOf(before) !== own.attempt || attemptOf(next) !== own.attempt) return undefined;
  const was = before.participants.find((p) => p.name === own.participant);
  const is = next.participants.find((p) => p.name === own.participant);
  if (was === undefined || was.vote !== undefined || is?.vote !== "yes") return undefined;
  if (own.canCommit) {
    const committed = withOwnCommit(before, step, own, now, policy);
    if (committed) return { step: committed, part: "committed" };
  }
  // Decided to abort in the same step (another answer folded with it): the participant prepares on its own, late, and is rolled back.
  if (next.state !== "preparing" && next.state !== "committing") return undefined;
  return { step, part: "prepared" };
}
