/**
 * Cooperative termination: a participant whose barrier stays prepared too long
 * asks the coordinator for the decision; an unknown transaction is an abort.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { MessageBus } from "../../src/ports/message-bus.ts";
import { dropping } from "../helpers/buses.ts";
import { bankState } from "../helpers/invariants.ts";
import { eventually, type Stack, startStack } from "../helpers/stack.ts";

let stack: Stack;
let dropped = 0;
beforeAll(async () => {
  stack = await startStack({
    // The sweeper would re-send only after 10 minutes: the participant must ask.
    // bank-2's commit waits for its COMMIT even when its vote decides: that COMMIT is the one lost.
    env: {
      CONCORD_DECISION_RETRY_MS: "600000",
      CONCORD_IN_DOUBT_AFTER_MS: "1000",
      CONCORD_COMMIT_WITH_DECISION: "false",
      CONCORD_VOTE_WITH_PREPARE: "false",
    },
    inquiryIntervalMs: 300,
    wrapBus: (bus: MessageBus) =>
      dropping(bus, (s) => {
        const lost = s.to === "bank-2" && s.message.type === "commit" && dropped === 0;
        if (lost) dropped++;
        return lost;
      }),
  });
});
afterAll(() => stack?.stop());

describe("a participant in doubt", () => {
  it("asks for the decision and applies the commit it never received", async () => {
    await stack.seed("bank-1", "a", 100);
    await stack.seed("bank-2", "b", 0);
    const view = await stack.transfer([
      { server_id: "bank-1", account_id: "a", operation: "withdraw", amount: 30 },
      { server_id: "bank-2", account_id: "b", operation: "deposit", amount: 30 },
    ]);
    expect(view.status).toBe("committed");
    // bank-2 holds the deposit pending, prepared, until it asks.
    expect(await stack.account("bank-2", "b")).toMatchObject({ balance: 0, pending: 30 });
    const done = await stack.settle(view.id, 15_000);
    expect(done.phase).toBe("committed");
    expect(dropped).toBe(1);
    expect(await stack.account("bank-2", "b")).toMatchObject({ balance: 30 });
    expect(await bankState(stack)).toMatchObject({ total: 100, locked: [], held: [], prepared: [] });
  });

  it("is told to roll back when the coordinator never heard of the transaction (presumed abort)", async () => {
    await stack.seed("bank-3", "c", 50);
    // A PREPARE for a transaction the coordinator has no record of.
    await stack.runtime.roles.of("participant", "bank-3").batch({
      Records: [
        {
          messageId: "m-1",
          receiptHandle: "r",
          body: JSON.stringify({
            type: "prepare",
            txId: "ghost-1",
            participant: "bank-3",
            deadline: Date.now() + 60_000,
            startedAt: Date.now(),
            branches: [{ index: 0, action: "withdraw", input: { account: "c", amount: 5 } }],
          }),
          attributes: {
            ApproximateReceiveCount: "1",
            SentTimestamp: "0",
            SenderId: "x",
            ApproximateFirstReceiveTimestamp: "0",
          },
          messageAttributes: {},
          md5OfBody: "",
          eventSource: "aws:sqs",
          eventSourceARN: "arn:aws:sqs:us-east-1:000000000000:x",
          awsRegion: "us-east-1",
        },
      ],
    });
    // Its vote is answered at once (no record: presumed abort), and the ROLLBACK may be handled
    // in this very invocation (self-delivery): only the outcome is certain here.
    await eventually(
      async () => ((await stack.account("bank-3", "c")).reserved > 0 ? undefined : true),
      15_000,
    );
    const barrier = (await stack.scan("bank")).find((i) => i.txId === "ghost-1");
    // It prepared (its reservation is in the barrier) and was rolled back: not refused.
    expect(barrier).toMatchObject({ state: "rolled_back", planned: [{ id: "c", moves: { balance: -5 } }] });
    expect((await stack.account("bank-3", "c")).balance).toBe(50);
  });
});
