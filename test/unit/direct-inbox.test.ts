/**
 * Direct votes and acks: a participant's answer applied by the coordinator's
 * own handling in the answering invocation, the coordinator queue as the
 * fallback when that fails, and nothing lost either way.
 */
import { describe, expect, it } from "vitest";
import { createCoordinator } from "../../src/coordinator/coordinator.ts";
import { createDirectInbox } from "../../src/coordinator/direct-inbox.ts";
import { createRecordCache } from "../../src/coordinator/record-cache.ts";
import type { CoordinatorMessage, ParticipantMessage } from "../../src/core/messages.ts";
import type { TxRecord } from "../../src/core/transaction.ts";
import { begin, type Policy } from "../../src/core/two-phase-commit.ts";
import { BarrierConflictError } from "../../src/participant-kit/errors.ts";
import type { OwnPrepare } from "../../src/ports/alongside.ts";
import type { MessageBus } from "../../src/ports/message-bus.ts";
import type { TransactionStore } from "../../src/ports/transaction-store.ts";
import { silentLogger } from "../../testkit/logging.ts";
import type { MemoryAlongside } from "../../testkit/memory/memory-alongside.ts";
import { createMemoryTransactionStore } from "../../testkit/memory/memory-transaction-store.ts";

const policy: Policy = {
  prepareRetryMs: 1000,
  decisionRetryMs: 1000,
  waitingRetryMs: 4_000,
  backoffCapMs: 8000,
  stalledAfterAttempts: 3,
  maxEvents: 100,
};
const quiet = silentLogger();
const voteOf = (tx: TxRecord | undefined, participant: string) =>
  tx?.protocol === "2pc" ? tx.participants.find((p) => p.name === participant)?.vote : undefined;
const created = begin(
  {
    id: "t",
    requestHash: "h",
    timeoutMs: 60_000,
    branches: ["p1", "p2"].map((participant) => ({ participant, action: "x", input: {} })),
  },
  0,
  policy,
).next;

class Fatal extends Error {}

async function setup(options: { failWrites?: number; queueFails?: boolean } = {}) {
  const memory = createMemoryTransactionStore();
  await memory.create(created);
  let failWrites = options.failWrites ?? 0;
  const writes: boolean[] = [];
  const store: TransactionStore = {
    ...memory,
    async update(before, next, alongside) {
      if (failWrites > 0) {
        failWrites--;
        throw new Error("ThrottlingException");
      }
      const outcome = await memory.update(before, next, alongside);
      writes.push(outcome.saved);
      return outcome;
    },
  };
  const sent: ParticipantMessage[] = [];
  const bus: MessageBus = {
    toCoordinator: async () => {},
    toParticipant: async (_p, m) => void sent.push(m),
  };
  const records = createRecordCache();
  records.remember(created);
  const coordinator = createCoordinator({ store, bus, clock: () => 1, log: quiet, policy, records });
  const queued: CoordinatorMessage[] = [];
  const inbox = createDirectInbox({
    handleGroup: coordinator.handleGroup,
    handleVoteWithPrepare: coordinator.handleVoteWithPrepare,
    fallback: {
      async toCoordinator(m) {
        if (options.queueFails) throw new Error("SQS unavailable");
        queued.push(m);
      },
    },
    log: quiet,
    fatal: (err) => err instanceof Fatal,
  });
  return { memory, writes, sent, queued, inbox };
}

const vote = (participant: string) => ({ type: "vote", txId: "t", participant, vote: "yes" }) as const;
const ack = (participant: string) => ({ type: "ack", txId: "t", participant, decision: "commit" }) as const;

describe("the direct inbox", () => {
  it("decides on the last vote in the voter's own call and sends the decision, nothing through the queue", async () => {
    const { memory, writes, sent, queued, inbox } = await setup();
    await inbox.toCoordinator(vote("p1"));
    expect((await memory.get("t"))?.state).toBe("preparing");
    expect(sent).toEqual([]);
    await inbox.toCoordinator(vote("p2"));
    expect((await memory.get("t"))?.state).toBe("committing");
    expect(sent.map((m) => `${m.type}:${m.participant}`).sort()).toEqual(["commit:p1", "commit:p2"]);
    expect(queued).toEqual([]);
    // Each vote one write on the held record, no lost race.
    expect(writes).toEqual([true, true]);
  });

  it("applies answers for one transaction that meet in the process one after another, never racing for the record", async () => {
    const { memory, writes, inbox } = await setup();
    await Promise.all([inbox.toCoordinator(vote("p1")), inbox.toCoordinator(vote("p2"))]);
    await Promise.all([inbox.toCoordinator(ack("p1")), inbox.toCoordinator(ack("p2"))]);
    expect((await memory.get("t"))?.state).toBe("committed");
    expect(writes.every((saved) => saved)).toBe(true);
    expect(writes.length).toBeLessThanOrEqual(4);
  });

  it("sends an answer whose direct write failed through the coordinator queue, and resolves", async () => {
    // The SDK's retries are spent: the write throws.
    const { memory, sent, queued, inbox } = await setup({ failWrites: 1 });
    await inbox.toCoordinator(vote("p1"));
    expect(queued).toEqual([vote("p1")]);
    expect(voteOf(await memory.get("t"), "p1")).toBeUndefined();
    expect(sent).toEqual([]);
  });

  it("rejects when the queue refuses the answer too: the participant's own message comes back", async () => {
    const { queued, inbox } = await setup({ failWrites: 1, queueFails: true });
    await expect(inbox.toCoordinator(vote("p1"))).rejects.toThrow("SQS unavailable");
    expect(queued).toEqual([]);
  });

  it("lets an error that ends the invocation through, with no send to the queue", async () => {
    const memory = createMemoryTransactionStore();
    const queued: CoordinatorMessage[] = [];
    const inbox = createDirectInbox({
      handleGroup: async () => {
        throw new Fatal("crashed");
      },
      fallback: { toCoordinator: async (m) => void queued.push(m) },
      log: quiet,
      fatal: (err) => err instanceof Fatal,
    });
    await expect(inbox.toCoordinator(vote("p1"))).rejects.toThrow("crashed");
    expect(queued).toEqual([]);
    expect(await memory.get("t")).toBeUndefined();
  });

  it("takes a vote applied directly and again from the queue (its write's answer was lost) as one", async () => {
    const { memory, sent, inbox } = await setup();
    await inbox.toCoordinator(vote("p1"));
    await inbox.toCoordinator(vote("p1"));
    const tx = await memory.get("t");
    expect(tx?.state).toBe("preparing");
    expect(voteOf(tx, "p1")).toBe("yes");
    expect(sent).toEqual([]);
  });
});

/**
 * A participant's offer of its prepare (and its commit at once), as memory
 * parts whose condition `refuse` decides, each application recorded in `done`.
 */
function offer(participant: string, refuse?: () => void) {
  const done: string[] = [];
  const written: string[] = [];
  const part = (what: string): MemoryAlongside => ({
    backend: "memory",
    check: () => refuse?.(),
    apply: () => void done.push(what),
  });
  const own: OwnPrepare = {
    participant,
    attempt: 0,
    startedAt: created.createdAt,
    prepare: () => part("prepared"),
    commit: () => part("committed"),
    written: (what) => void written.push(what),
  };
  return { own, done, written };
}

describe("the direct inbox, a vote with its prepare", () => {
  it("writes the first vote with its prepare, and the deciding one with its commit at once", async () => {
    const { memory, sent, queued, inbox } = await setup();
    const first = offer("p1");
    await inbox.voteWithPrepare(vote("p1"), first.own);
    expect({ done: first.done, written: first.written }).toEqual({
      done: ["prepared"],
      written: ["prepared"],
    });
    const last = offer("p2");
    await inbox.voteWithPrepare(vote("p2"), last.own);
    expect({ done: last.done, written: last.written }).toEqual({
      done: ["committed"],
      written: ["committed"],
    });
    expect((await memory.get("t"))?.state).toBe("committing");
    // Only the first voter is sent its COMMIT; nothing went through the queue.
    expect(sent.map((m) => [m.type, m.participant])).toEqual([["commit", "p1"]]);
    expect(queued).toEqual([]);
  });

  it("never sends it through the queue: a failed write or a refused part writes nothing, and resolves", async () => {
    const failed = await setup({ failWrites: 1 });
    const a = offer("p1");
    await failed.inbox.voteWithPrepare(vote("p1"), a.own);
    const refused = await setup();
    const b = offer("p1", () => {
      throw new BarrierConflictError("t", true);
    });
    await refused.inbox.voteWithPrepare(vote("p1"), b.own);
    for (const [{ memory, queued }, { done, written }] of [
      [failed, a],
      [refused, b],
    ] as const) {
      expect({ queued, done, written }).toEqual({ queued: [], done: [], written: [] });
      expect(voteOf(await memory.get("t"), "p1")).toBeUndefined();
    }
  });

  it("lets an error that ends the invocation through", async () => {
    const { memory, queued, inbox } = await setup();
    const { own, written } = offer("p1", () => {
      throw new Fatal("crashed");
    });
    await expect(inbox.voteWithPrepare(vote("p1"), own)).rejects.toThrow("crashed");
    expect({ queued, written }).toEqual({ queued: [], written: [] });
    expect(voteOf(await memory.get("t"), "p1")).toBeUndefined();
  });
});
