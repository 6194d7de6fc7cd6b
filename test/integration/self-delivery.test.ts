/**
 * Self-delivery on the emulators: what the coordinator's handling, run on a
 * participant's direct answer, sends that same participant is handled in that
 * participant's invocation, not sent through its queue. Counted as SQS sees it:
 * the last voter's COMMIT and the PREPARE a lock's release wakes never reach a
 * queue; when handling one here fails, it goes through the queue and nothing is
 * lost.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TransactionView } from "../../src/core/view.ts";
import { createFaultInjector, type FaultInjector } from "../../testkit/faults/fault-injection.ts";
import { holding } from "../helpers/buses.ts";
import { expectAgreement } from "../helpers/invariants.ts";
import { eventually, type Stack, startStack } from "../helpers/stack.ts";

interface Sent {
  readonly queue: string;
  readonly type: string;
  readonly txId: string;
}

/** Every message sent to a participant's queue, as SQS receives it (single or batched). */
function watchParticipantQueues(faults: FaultInjector): Sent[] {
  const sent: Sent[] = [];
  faults.arm({
    service: "sqs",
    fault: "sqs-throttled",
    match: (call) => {
      if (!/^SendMessage/.test(call.operation)) return false;
      const input = call.input as {
        QueueUrl?: string;
        MessageBody?: string;
        Entries?: { MessageBody?: string }[];
      };
      const queue = /participant-([\w-]+)$/.exec(input.QueueUrl ?? "")?.[1];
      if (queue === undefined) return false;
      const bodies = input.Entries ? input.Entries.map((e) => e.MessageBody) : [input.MessageBody];
      for (const body of bodies) {
        const m = JSON.parse(body ?? "{}") as { type: string; txId: string };
        sent.push({ queue, type: m.type, txId: m.txId });
      }
      // Watches only: fails nothing.
      return false;
    },
  });
  return sent;
}

const transfer = (id: string, from: string, to: string, amount: number) => ({
  id,
  protocol: "2pc",
  branches: [
    { participant: "bank-1", action: "withdraw", input: { account: from, amount } },
    { participant: "bank-2", action: "deposit", input: { account: to, amount } },
  ],
});

/** Runs one 2-party transfer to the end; the COMMITs that went through a queue. */
async function commitsThroughQueues(stack: Stack, sent: readonly Sent[], id: string): Promise<Sent[]> {
  await stack.seed("bank-1", `${id}-a`, 100);
  await stack.seed("bank-2", `${id}-b`, 0);
  const res = await stack.request(
    "POST",
    "/v1/transactions?wait=15000",
    transfer(id, `${id}-a`, `${id}-b`, 30),
  );
  expect(((await res.json()) as TransactionView).status).toBe("committed");
  expect((await stack.settle(id)).phase).toBe("committed");
  expect((await stack.account("bank-1", `${id}-a`)).balance).toBe(70);
  expect((await stack.account("bank-2", `${id}-b`)).balance).toBe(30);
  await expectAgreement(stack);
  return sent.filter((s) => s.txId === id && s.type === "commit");
}

// No re-sends from the sweeper while a test counts: every message counted is the protocol's own.
const NO_RESENDS = {
  CONCORD_PREPARE_RETRY_MS: "60000",
  CONCORD_DECISION_RETRY_MS: "60000",
  CONCORD_WAITING_RETRY_MS: "60000",
};

/**
 * A stack of two bank servers under `env` (no re-sends besides), with every send
 * to a participant queue watched: started before the block's tests, stopped after.
 */
function watchedStack(env: Record<string, string> = {}) {
  const watched = { faults: createFaultInjector(), stack: undefined as unknown as Stack, sent: [] as Sent[] };
  beforeAll(async () => {
    watched.stack = await startStack({
      bankServers: ["bank-1", "bank-2"],
      faults: watched.faults,
      env: { ...NO_RESENDS, ...env },
    });
    watched.sent = watchParticipantQueues(watched.faults);
  });
  afterAll(() => watched.stack?.stop());
  return watched;
}

/**
 * The TransactWriteItems that wrote the record `id` and a participant's barrier
 * for it together: `prepared` (a vote with its prepare) or `committed` (the
 * last voter's commit with its decision, or its branches applied at once).
 */
function watchWritesWithRecord(faults: FaultInjector, id: string): string[] {
  const seen: string[] = [];
  faults.arm({
    service: "dynamodb",
    operation: "TransactWriteItems",
    fault: "throttling",
    match: (call) => {
      // As sent: the record's key is {"id":{"S":id}}, the barrier's pk barrier#<participant>#<id>.
      const text = JSON.stringify((call.input as { TransactItems?: unknown[] }).TransactItems ?? []);
      const record = text.includes(`"id":{"S":"${id}"}`);
      const barrier = new RegExp(`barrier#(bank-\\d)#${id}"`).exec(text)?.[1];
      const part = /"committed"/.test(text) ? "committed" : "prepared";
      if (record && barrier) seen.push(`${barrier} ${part}`);
      return false;
    },
  });
  return seen;
}

const acks = async (stack: Stack, id: string) =>
  (await stack.client.get(id)).events.filter((e) => e.type === "ack").map((e) => e.participant);

describe("self-delivery (the default)", () => {
  const w = watchedStack();

  it("commits a 2-party transfer in two writes with the record and one COMMIT through a queue", async () => {
    const withRecord = watchWritesWithRecord(w.faults, "sd-1");
    const commits = await commitsThroughQueues(w.stack, w.sent, "sd-1");
    expect(commits).toHaveLength(1);
    // Each participant's PREPARE went through its queue.
    expect(w.sent.filter((s) => s.txId === "sd-1" && s.type === "prepare")).toHaveLength(2);
    // The first vote was written with its prepare, the deciding one with its branches applied at once;
    // the first voter's COMMIT is the one sent.
    const first = commits[0]?.queue;
    const last = first === "bank-1" ? "bank-2" : "bank-1";
    expect(withRecord).toEqual([`${first} prepared`, `${last} committed`]);
    expect(await acks(w.stack, "sd-1")).toEqual([last, first]);
  });
});

describe("each vote's prepare apart from it (CONCORD_VOTE_WITH_PREPARE=false)", () => {
  const w = watchedStack({ CONCORD_VOTE_WITH_PREPARE: "false" });

  it("the last voter's commit is still written with the decision: one write with the record, one COMMIT through a queue", async () => {
    const withRecord = watchWritesWithRecord(w.faults, "sd-5");
    const commits = await commitsThroughQueues(w.stack, w.sent, "sd-5");
    expect(commits).toHaveLength(1);
    const last = commits[0]?.queue === "bank-1" ? "bank-2" : "bank-1";
    expect(withRecord).toEqual([`${last} committed`]);
    expect(await acks(w.stack, "sd-5")).toEqual([last, commits[0]?.queue]);
  });
});

describe("the last voter's commit apart from the decision (CONCORD_COMMIT_WITH_DECISION=false)", () => {
  const w = watchedStack({ CONCORD_COMMIT_WITH_DECISION: "false" });

  it("still one COMMIT through a queue: the last voter handles its own in its invocation, after the decision", async () => {
    const withRecord = watchWritesWithRecord(w.faults, "sd-4");
    const commits = await commitsThroughQueues(w.stack, w.sent, "sd-4");
    expect(commits).toHaveLength(1);
    // Both votes written with their prepares; neither commits with the record.
    expect([...withRecord].sort()).toEqual(["bank-1 prepared", "bank-2 prepared"]);
  });
});

describe("self-delivery off (CONCORD_SELF_DELIVERY=false)", () => {
  const w = watchedStack({ CONCORD_SELF_DELIVERY: "false" });

  it("sends the COMMIT to both participants through their queues, as before", async () => {
    const commits = await commitsThroughQueues(w.stack, w.sent, "sd-2");
    expect(commits.map((c) => c.queue).sort()).toEqual(["bank-1", "bank-2"]);
  });
});

describe("self-delivery whose handling fails (before-self-delivery:throw)", () => {
  const w = watchedStack({
    CONCORD_CRASH_AT: "before-self-delivery:throw",
    // The last voter's COMMIT is held for it only when its commit is not written with the decision.
    CONCORD_COMMIT_WITH_DECISION: "false",
  });

  it("sends the held COMMIT through the last voter's queue, and the transfer commits with every invariant", async () => {
    // The sweeper re-sends nothing for a minute: only the fallback can bring the last voter its COMMIT.
    const commits = await commitsThroughQueues(w.stack, w.sent, "sd-3");
    expect(commits.map((c) => c.queue).sort()).toEqual(["bank-1", "bank-2"]);
  });
});

describe("a lock's hand-off (exclusive locks, detect)", () => {
  const faults = createFaultInjector();
  let stack: Stack;
  let sent: Sent[];
  let bus: ReturnType<typeof holding> | undefined;
  beforeAll(async () => {
    stack = await startStack({
      bankServers: ["bank-1", "bank-2"],
      faults,
      env: { ...NO_RESENDS, CONCORD_LOCK_MODE: "exclusive", CONCORD_LOCK_POLICY: "detect" },
      // The holder's PREPARE at bank-2 waits until the test lets it go: the holder keeps its lock at bank-1.
      wrapBus: (inner) => {
        bus = holding(
          inner,
          (s) => s.to === "bank-2" && s.message.type === "prepare" && s.message.txId === "ho-1",
        );
        return bus.bus;
      },
    });
    sent = watchParticipantQueues(faults);
  });
  afterAll(() => stack?.stop());

  it("hands the released lock to its waiter in the releasing participant's invocation: its PREPARE goes through the queue once", async () => {
    await stack.seed("bank-1", "ho-hot", 100);
    await stack.seed("bank-2", "ho-x", 0);
    await stack.seed("bank-2", "ho-y", 0);
    await stack.request("POST", "/v1/transactions", transfer("ho-1", "ho-hot", "ho-x", 10));
    await eventually(async () =>
      (await stack.account("bank-1", "ho-hot")).lockedBy === "ho-1" ? true : undefined,
    );
    await stack.request("POST", "/v1/transactions", transfer("ho-2", "ho-hot", "ho-y", 20));
    // ho-2 waits for ho-1's lock at bank-1, registered to be woken.
    await eventually(async () => {
      const waits = (await stack.scan("transactions")).find((t) => t.id === "ho-2")?.waits;
      return waits !== undefined && Object.keys(waits as object).length > 0 ? true : undefined;
    });
    await bus?.releaseNext();
    expect((await stack.settle("ho-1")).phase).toBe("committed");
    expect((await stack.settle("ho-2")).phase).toBe("committed");
    expect((await stack.account("bank-1", "ho-hot")).balance).toBe(70);
    await expectAgreement(stack);
    // bank-1's COMMIT of ho-1 released the lock; the PREPARE that woke ho-2 there was handled in that invocation.
    expect(
      sent.filter((s) => s.txId === "ho-2" && s.type === "prepare" && s.queue === "bank-1"),
    ).toHaveLength(1);
  });
});
