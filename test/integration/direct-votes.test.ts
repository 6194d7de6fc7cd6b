/**
 * Direct votes and acks on the emulators: the participants apply their answers
 * to the transaction record through the coordinator's own handling, so a
 * transaction is decided and completed with no coordinator polling its queue,
 * the `?wait=` of an API in the same process is woken by that decision, and an
 * answer whose direct write fails reaches the coordinator through its queue.
 */
import { GetQueueAttributesCommand } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { COORDINATOR_QUEUE } from "../../infra/topology.ts";
import type { TransactionView } from "../../src/core/view.ts";
import { createFaultInjector } from "../../testkit/faults/fault-injection.ts";
import { expectAgreement } from "../helpers/invariants.ts";
import { type Stack, startStack } from "../helpers/stack.ts";

async function queued(stack: Stack, queue: string): Promise<number> {
  const url = stack.runtime.queueUrls?.get(queue);
  const out = await stack.runtime.clients.sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    }),
  );
  return (
    Number(out.Attributes?.ApproximateNumberOfMessages ?? 0) +
    Number(out.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0)
  );
}

const transfer = (id: string, from: string, to: string, amount: number) => ({
  id,
  protocol: "2pc",
  branches: [
    { participant: "bank-1", action: "withdraw", input: { account: from, amount } },
    { participant: "bank-2", action: "deposit", input: { account: to, amount } },
  ],
});

describe("a process with the API and the participants, and no coordinator", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ bankServers: ["bank-1", "bank-2"], roles: ["api", "participants"] });
  });
  afterAll(() => stack?.stop());

  it("decides in the last voter's invocation, wakes the waiting request with the decision, and completes on the acks", async () => {
    await stack.seed("bank-1", "dv-a", 100);
    await stack.seed("bank-2", "dv-b", 0);
    // The decision signal of this process, listened to before the transaction exists.
    const signalled = stack.runtime.roles.wiring.decisions.next("dv-1", 15_000);
    const res = await stack.request(
      "POST",
      "/v1/transactions?wait=15000",
      transfer("dv-1", "dv-a", "dv-b", 30),
    );
    const view = (await res.json()) as TransactionView;
    expect(res.status).toBe(201);
    expect(view.status).toBe("committed");
    expect((await signalled)?.state).toMatch(/^(committing|committed)$/);
    const done = await stack.settle("dv-1");
    expect(done.phase).toBe("committed");
    expect((await stack.account("bank-1", "dv-a")).balance).toBe(70);
    expect((await stack.account("bank-2", "dv-b")).balance).toBe(30);
    // Nobody polls the coordinator queue here: every vote and ack went direct.
    expect(await queued(stack, COORDINATOR_QUEUE)).toBe(0);
  });

  it("aborts on a no vote the same way, releasing what the other participant prepared", async () => {
    await stack.seed("bank-1", "dv-c", 10);
    await stack.seed("bank-2", "dv-d", 0);
    const res = await stack.request(
      "POST",
      "/v1/transactions?wait=15000",
      transfer("dv-2", "dv-c", "dv-d", 30),
    );
    expect(((await res.json()) as TransactionView).status).toBe("aborted");
    expect((await stack.settle("dv-2")).phase).toBe("aborted");
    const d = await stack.account("bank-2", "dv-d");
    expect([d.balance, d.pending]).toEqual([0, 0]);
    // The side that voted no is left as it was.
    const c = await stack.account("bank-1", "dv-c");
    expect([c.balance, c.reserved]).toEqual([10, 0]);
    expect(await queued(stack, COORDINATOR_QUEUE)).toBe(0);
  });
});

describe("a vote whose direct write fails", () => {
  const faults = createFaultInjector();
  let stack: Stack;
  let coordinatorSends = 0;
  beforeAll(async () => {
    stack = await startStack({
      bankServers: ["bank-1", "bank-2"],
      faults,
      // The sweeper's re-sends stay out of it: the answer must come through the queue.
      env: { CONCORD_PREPARE_RETRY_MS: "60000", CONCORD_DECISION_RETRY_MS: "60000" },
    });
  });
  afterAll(() => stack?.stop());

  it("reaches the coordinator through its queue, and the transaction commits", async () => {
    await stack.seed("bank-1", "fb-a", 100);
    await stack.seed("bank-2", "fb-b", 0);
    const isCoordinatorSend = (input: unknown) =>
      String((input as { QueueUrl?: string }).QueueUrl ?? "").endsWith(`-${COORDINATOR_QUEUE}`);
    // Watches sends to the coordinator queue; fails none.
    faults.arm({
      service: "sqs",
      fault: "sqs-throttled",
      match: (call) => {
        if (/^SendMessage/.test(call.operation) && isCoordinatorSend(call.input)) coordinatorSends++;
        return false;
      },
    });
    // Every attempt of the first two record updates (the two votes; the SDK tries 4 times each) fails.
    faults.arm({
      service: "dynamodb",
      operation: "UpdateItem",
      fault: "internal-error",
      times: 8,
      match: (call) => String((call.input as { TableName?: string }).TableName).endsWith("-transactions"),
    });
    const res = await stack.request(
      "POST",
      "/v1/transactions?wait=20000",
      transfer("fb-1", "fb-a", "fb-b", 40),
    );
    expect(((await res.json()) as TransactionView).status).toBe("committed");
    expect((await stack.settle("fb-1")).phase).toBe("committed");
    expect(coordinatorSends).toBeGreaterThanOrEqual(1);
    await expectAgreement(stack);
    expect((await stack.account("bank-1", "fb-a")).balance).toBe(60);
    expect((await stack.account("bank-2", "fb-b")).balance).toBe(40);
  });
});
