import { describe, expect, it } from "vitest";
import type { CoordinatorMessage } from "../../src/core/messages.ts";
import { withOwnCommit } from "../../src/core/own-commit.ts";
import type { TxRecord } from "../../src/core/transaction.ts";
import { begunTwoPc, TEST_POLICY } from "../helpers/policy.ts";
import { apply, twoVoters, vote } from "../helpers/votes.ts";

const policy = TEST_POLICY;
const tx = twoVoters;
/** Prepared for `tx` (this incarnation), at its first attempt unless said. */
const ownOf = (participant: string, attempt = 0) => ({ participant, attempt, startedAt: tx.createdAt });

/** p1 voted; p2's vote decides, and its commit is folded into that step. */
function p2Decides() {
  const voted = apply(tx, [vote("p1")]).next;
  const deciding = apply(voted, [vote("p2")]);
  return { voted, deciding, folded: withOwnCommit(voted, deciding, ownOf("p2"), 5, policy) };
}

describe("withOwnCommit: the last voter's commit written with the decision", () => {
  it("acknowledges the last voter in the deciding step and drops only its COMMIT", () => {
    const { folded } = p2Decides();
    expect(folded?.next.state).toBe("committing");
    expect(folded?.effects).toEqual([{ kind: "decision", participant: "p1", decision: "commit" }]);
    const participants = folded?.next.protocol === "2pc" ? folded.next.participants : [];
    expect(participants.map((p) => [p.name, p.acked ?? false])).toEqual([
      ["p1", false],
      ["p2", true],
    ]);
    expect(folded?.next.events.at(-1)).toMatchObject({ type: "ack", participant: "p2", decision: "commit" });
  });

  it("is the decision and then that participant's ack applied one after the other, but for whom the decision was sent", () => {
    const { deciding, folded } = p2Decides();
    const ack: CoordinatorMessage = { type: "ack", txId: "t", participant: "p2", decision: "commit" };
    const apart = apply(deciding.next, [ack]).next;
    const sentTo = (record: TxRecord | undefined) =>
      record?.events.filter((e) => e.type === "decision_sent").map((e) => e.participants);
    expect(sentTo(apart)).toEqual([["p1", "p2"]]);
    // p2's commit went with the decision: the timeline does not say it was sent one.
    expect(sentTo(folded?.next)).toEqual([["p1"]]);
    const others = (record: TxRecord | undefined) =>
      record && { ...record, events: record.events.filter((e) => e.type !== "decision_sent") };
    expect(others(folded?.next)).toEqual(others(apart));
  });

  it("counts one fewer among those a decision to many participants was sent to but does not name", () => {
    const names = Array.from({ length: 12 }, (_, i) => `q${String(i).padStart(2, "0")}`);
    const many = begunTwoPc({ id: "t", participants: names, action: "x", input: {} });
    const votes = (record: TxRecord, who: string[]) =>
      apply(
        record,
        who.map((n) => vote(n)),
      );
    const voted = votes(many, names.slice(0, 11)).next;
    const last = names[11] as string;
    const deciding = votes(voted, [last]);
    const sent = (record: TxRecord | undefined) => record?.events.find((e) => e.type === "decision_sent");
    expect(sent(deciding.next)).toMatchObject({ participantsOmitted: 2 });
    const folded = withOwnCommit(
      voted,
      deciding,
      { participant: last, attempt: 0, startedAt: many.createdAt },
      5,
      policy,
    );
    expect(sent(folded?.next)).toMatchObject({ participants: names.slice(0, 10), participantsOmitted: 1 });
  });

  it("leaves the others' acks to come: the deciding write does not complete the transaction", () => {
    // No other participant can have acked before the decision, so one is always left.
    const { deciding, folded } = p2Decides();
    expect(folded?.next.completedAt).toBeUndefined();
    expect(folded?.next.dueAt).toBe(deciding.next.dueAt);
  });

  it("leaves every other step as it is: no decision, an abort, another participant, attempt or incarnation", () => {
    const first = apply(tx, [vote("p1")]);
    expect(withOwnCommit(tx, first, ownOf("p1"), 5, policy)).toBeUndefined();
    const voted = first.next;
    const aborting = apply(voted, [vote("p2", "no")]);
    expect(aborting.next.state).toBe("aborting");
    expect(withOwnCommit(voted, aborting, ownOf("p2"), 5, policy)).toBeUndefined();
    const deciding = apply(voted, [vote("p2")]);
    expect(withOwnCommit(voted, deciding, ownOf("p3"), 5, policy)).toBeUndefined();
    expect(withOwnCommit(voted, deciding, ownOf("p2", 1), 5, policy)).toBeUndefined();
    // Prepared for another incarnation of the id (an earlier transaction's, since expired).
    const earlier = { ...ownOf("p2"), startedAt: tx.createdAt - 1 };
    expect(withOwnCommit(voted, deciding, earlier, 5, policy)).toBeUndefined();
    // Already decided: the step re-sends, it does not decide.
    const again = apply(deciding.next, [vote("p2")]);
    expect(withOwnCommit(deciding.next, again, ownOf("p2"), 5, policy)).toBeUndefined();
  });
});
