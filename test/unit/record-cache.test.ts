/**
 * The coordinator's write path with records held in the process: a held record
 * saves the read, a stale one costs a failed write that returns the record that
 * won, and nothing is sent on a held record that has not been confirmed current.
 */
import { describe, expect, it } from "vitest";
import { createCoordinator } from "../../src/coordinator/coordinator.ts";
import { createRecordCache } from "../../src/coordinator/record-cache.ts";
import type { ParticipantMessage } from "../../src/core/messages.ts";
import type { OwnPrepare } from "../../src/ports/alongside.ts";
import type { MessageBus } from "../../src/ports/message-bus.ts";
import type { TransactionStore } from "../../src/ports/transaction-store.ts";
import { silentLogger } from "../../testkit/logging.ts";
import type { MemoryAlongside } from "../../testkit/memory/memory-alongside.ts";
import { createMemoryTransactionStore } from "../../testkit/memory/memory-transaction-store.ts";
import { begunTwoPc, TEST_POLICY } from "../helpers/policy.ts";

const policy = TEST_POLICY;
const quiet = silentLogger();
const created = begunTwoPc({ id: "t", participants: ["p1", "p2"], action: "x", input: {} });

function setup() {
  const memory = createMemoryTransactionStore();
  const calls: string[] = [];
  const store: TransactionStore = {
    ...memory,
    get: (id) => {
      calls.push("get");
      return memory.get(id);
    },
    update: (before, next, alongside) => {
      calls.push("update");
      return memory.update(before, next, alongside);
    },
  };
  const sent: ParticipantMessage[] = [];
  const bus: MessageBus = {
    toCoordinator: async () => {},
    toParticipant: async (_p, m) => void sent.push(m),
  };
  const records = createRecordCache();
  const coordinator = createCoordinator({ store, bus, clock: () => 1, log: quiet, policy, records });
  return { memory, calls, sent, records, coordinator };
}

const vote = (participant: string) => ({ type: "vote", txId: "t", participant, vote: "yes" }) as const;

describe("advance with records held in the process", () => {
  it("writes an event on a held record with one update and no read", async () => {
    const { memory, calls, records, coordinator } = setup();
    await memory.create(created);
    records.remember(created);
    await coordinator.handle(vote("p1"));
    await coordinator.handle(vote("p2"));
    expect(calls).toEqual(["update", "update"]);
    expect((await memory.get("t"))?.state).toBe("committing");
  });

  it("on a stale held record, decides again on the record the failed write returned, without a read", async () => {
    const { memory, calls, sent, records, coordinator } = setup();
    await memory.create(created);
    records.remember(created);
    // Another process recorded p1's vote meanwhile.
    const p1Voted = {
      ...created,
      participants: created.participants.map((p) => (p.name === "p1" ? { ...p, vote: "yes" as const } : p)),
      version: 2,
    };
    await memory.update(created, p1Voted);
    await coordinator.handle(vote("p2"));
    expect(calls).toEqual(["update", "update"]);
    expect((await memory.get("t"))?.state).toBe("committing");
    expect(sent.map((m) => m.type)).toEqual(["commit", "commit"]);
  });

  it("reads the record before acting on a held one that the event does not change", async () => {
    const { memory, calls, sent, records, coordinator } = setup();
    await memory.create(created);
    records.remember(created);
    await coordinator.handle(vote("p1"));
    const p1Voted = records.get("t");
    await coordinator.handle(vote("p2"));
    expect((await memory.get("t"))?.state).toBe("committing");
    // Held: the record before p2's vote, as in a process that did not see the decision.
    records.forget("t");
    if (p1Voted) records.remember(p1Voted);
    sent.length = 0;
    calls.length = 0;
    // A repeated p1 vote changes nothing on either record, but only the stored one says to send COMMIT again.
    await coordinator.handle(vote("p1"));
    expect(calls).toEqual(["get"]);
    expect(sent).toEqual([expect.objectContaining({ type: "commit", participant: "p1" })]);
  });

  it("keeps the record it read for a vote with its prepare it did not take: the plain vote after it needs no read", async () => {
    const { memory, calls, coordinator } = setup();
    await memory.create(created);
    // Another incarnation's PREPARE: the vote is not taken, and nothing is written.
    const written: string[] = [];
    const own: OwnPrepare = {
      participant: "p1",
      attempt: 0,
      startedAt: created.createdAt - 1,
      prepare: () => ({ backend: "memory", check() {}, apply() {} }) as MemoryAlongside,
      written: (part) => void written.push(part),
    };
    await coordinator.handleVoteWithPrepare(vote("p1"), own);
    expect({ calls, written }).toEqual({ calls: ["get"], written: [] });
    await coordinator.handle(vote("p1"));
    expect(calls).toEqual(["get", "update"]);
  });
});
