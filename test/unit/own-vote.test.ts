import { describe, expect, it } from "vitest";
import { withOwnCommit } from "../../src/core/own-commit.ts";
import { withOwnVote } from "../../src/core/own-vote.ts";
import type { TxRecord } from "../../src/core/transaction.ts";
import { TEST_POLICY } from "../helpers/policy.ts";
import { apply, twoVoters, vote } from "../helpers/votes.ts";

const policy = TEST_POLICY;
const tx = twoVoters;
const own = (participant: string, canCommit = true) => ({
  participant,
  attempt: 0,
  startedAt: tx.createdAt,
  canCommit,
});

describe("withOwnVote: a yes vote written with the prepare it stands on", () => {
  it("writes the first vote with the prepare: the step as it is, nothing decided", () => {
    const step = apply(tx, [vote("p1")]);
    const taken = withOwnVote(tx, step, own("p1"), 5, policy);
    expect(taken?.part).toBe("prepared");
    expect(taken?.step).toBe(step);
    expect(taken?.step.next.state).toBe("preparing");
  });

  it("writes the deciding vote with the branches applied at once: acknowledged, no COMMIT to itself", () => {
    const voted = apply(tx, [vote("p1")]).next;
    const deciding = apply(voted, [vote("p2")]);
    const taken = withOwnVote(voted, deciding, own("p2"), 5, policy);
    expect(taken?.part).toBe("committed");
    // The same step as the last voter's commit written with its decision.
    expect(taken?.step).toEqual(
      withOwnCommit(voted, deciding, { participant: "p2", attempt: 0, startedAt: tx.createdAt }, 5, policy),
    );
    expect(taken?.step.effects).toEqual([{ kind: "decision", participant: "p1", decision: "commit" }]);
  });

  it("writes a deciding vote that cannot commit at once (its barrier would hold a lock) with the prepare: its COMMIT goes to it", () => {
    const voted = apply(tx, [vote("p1")]).next;
    const deciding = apply(voted, [vote("p2")]);
    const taken = withOwnVote(voted, deciding, own("p2", false), 5, policy);
    expect(taken?.part).toBe("prepared");
    expect(taken?.step.effects).toContainEqual({ kind: "decision", participant: "p2", decision: "commit" });
  });

  it("takes nothing where the vote changes nothing, comes late, or is another's: the step may not be written", () => {
    const voted = apply(tx, [vote("p1")]).next;
    // Voted already (a duplicate PREPARE).
    expect(withOwnVote(voted, apply(voted, [vote("p1")]), own("p1"), 5, policy)).toBeUndefined();
    // Decided already: the vote is late.
    const aborted = apply(voted, [vote("p2", "no")]).next;
    expect(withOwnVote(aborted, apply(aborted, [vote("p1")]), own("p1"), 5, policy)).toBeUndefined();
    // A step that records another participant's vote, not this one's.
    expect(withOwnVote(tx, apply(tx, [vote("p2")]), own("p1"), 5, policy)).toBeUndefined();
    // Another attempt, another incarnation of the id.
    const step = apply(tx, [vote("p1")]);
    expect(withOwnVote(tx, step, { ...own("p1"), attempt: 1 }, 5, policy)).toBeUndefined();
    expect(withOwnVote(tx, step, { ...own("p1"), startedAt: tx.createdAt + 1 }, 5, policy)).toBeUndefined();
  });

  it("takes nothing where the same step decides to abort: the participant prepares late and is rolled back", () => {
    // A yes vote alone never aborts; a step that also decides abort (one fold of several answers) may.
    const step = apply(tx, [vote("p1")]);
    const aborting = { ...step, next: { ...step.next, state: "aborting" } as TxRecord };
    expect(withOwnVote(tx, aborting, own("p1"), 5, policy)).toBeUndefined();
  });

  it("takes nothing for a transaction that commits in one phase", () => {
    const onePhase: TxRecord = { ...tx, onePhase: true } as TxRecord;
    expect(withOwnVote(onePhase, apply(onePhase, [vote("p1")]), own("p1"), 5, policy)).toBeUndefined();
  });
});
