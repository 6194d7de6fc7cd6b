/**
 * Self-delivery: what the coordinator's handling, run on a participant's direct
 * answer, sends that same participant is handled by it once its message is done,
 * instead of going through its queue; anything else is sent as before.
 */
import { describe, expect, it } from "vitest";
import { createCoordinator } from "../../src/coordinator/coordinator.ts";
import { createDirectInbox } from "../../src/coordinator/direct-inbox.ts";
import { createRecordCache } from "../../src/coordinator/record-cache.ts";
import type { ParticipantMessage } from "../../src/core/messages.ts";
import { InjectedFailure } from "../../src/crash-points.ts";
import type { MessageBus } from "../../src/ports/message-bus.ts";
import {
  deliveringToSelf,
  holdingForSelf,
  runAsSelf,
  type SelfScope,
  selfOfGroup,
} from "../../src/self-delivery.ts";
import { currentLogKeys, currentTraceparent, startTrace, withTrace } from "../../src/trace-context.ts";
import { silentLogger } from "../../testkit/logging.ts";
import { createMemoryTransactionStore } from "../../testkit/memory/memory-transaction-store.ts";
import { begunTwoPc, TEST_POLICY } from "../helpers/policy.ts";

const policy = TEST_POLICY;
const quiet = silentLogger();
const created = begunTwoPc({ id: "t", participants: ["p1", "p2"], action: "x", input: {} });

class Died extends Error {}

/**
 * Two participants answering directly, as the participant role wires them: the
 * coordinator's handling in their invocation, over a bus that holds what it
 * sends the answering participant. `onCommit` stands in for the kit's COMMIT.
 */
async function setup(options: { onCommit?: (participant: string) => Promise<void> } = {}) {
  const memory = createMemoryTransactionStore();
  await memory.create(created);
  const queued: { to: string; message: ParticipantMessage }[] = [];
  const queue: MessageBus = {
    toCoordinator: async () => {},
    toParticipant: async (to, message) => void queued.push({ to, message }),
  };
  // As the wiring: the inbox routes answers, the participant sends are held for self first.
  let inbox: ReturnType<typeof createDirectInbox> | undefined;
  const bus = holdingForSelf({
    toCoordinator: (m) => (inbox as ReturnType<typeof createDirectInbox>).toCoordinator(m),
    toParticipant: queue.toParticipant,
  });
  const records = createRecordCache();
  records.remember(created);
  const coordinator = createCoordinator({ store: memory, bus, clock: () => 1, log: quiet, policy, records });
  inbox = createDirectInbox({ handleGroup: coordinator.handleGroup, fallback: queue, log: quiet });
  /** What each participant's handler did, in order. */
  const events: string[] = [];
  const handlerOf = (name: string) =>
    deliveringToSelf(
      async (m) => {
        events.push(`${name} handles ${m.type}`);
        if (m.type === "prepare") {
          await bus.toCoordinator({ type: "vote", txId: m.txId, participant: name, vote: "yes" });
        } else if (m.type === "commit") {
          await options.onCommit?.(name);
          await bus.toCoordinator({ type: "ack", txId: m.txId, participant: name, decision: "commit" });
        }
        events.push(`${name} done with ${m.type}`);
      },
      {
        fallback: queue.toParticipant,
        log: quiet,
        keysOf: (m) => ({ txId: m.txId }),
        crash: () => {},
        fatal: (err) => err instanceof Died,
      },
    );
  const prepare = (participant: string): ParticipantMessage => ({
    type: "prepare",
    txId: "t",
    participant,
    deadline: 60_000,
    startedAt: 0,
    branches: [{ index: participant === "p1" ? 0 : 1, action: "x", input: {} }],
  });
  return { memory, queued, events, handlerOf, prepare, bus };
}

/** A bus that holds for the open scope, over a queue that records what it was sent (`type:participant`). */
function holdingQueue() {
  const queued: string[] = [];
  const bus = holdingForSelf({
    toCoordinator: async () => {},
    toParticipant: async (to, m) => void queued.push(`${m.type}:${to}`),
  });
  return { bus, queued };
}

describe("self-delivery", () => {
  it("hands the last voter its own COMMIT after its vote was applied, and sends only the other participant's", async () => {
    const { memory, queued, events, handlerOf, prepare } = await setup();
    await handlerOf("p1")(prepare("p1"));
    expect(queued).toEqual([]);
    await handlerOf("p2")(prepare("p2"));
    // p2 decided: p1's COMMIT went to its queue, p2's was handled here, after its PREPARE was done.
    expect(queued.map((q) => `${q.message.type}:${q.to}`)).toEqual(["commit:p1"]);
    expect(events).toEqual([
      "p1 handles prepare",
      "p1 done with prepare",
      "p2 handles prepare",
      "p2 done with prepare",
      "p2 handles commit",
      "p2 done with commit",
    ]);
    // Its ack was applied directly too: the inbox was free, no deadlock behind the vote's group.
    const tx = await memory.get("t");
    expect(tx?.protocol === "2pc" && tx.participants.find((p) => p.name === "p2")?.acked).toBe(true);
  });

  it("sends a held message through its queue when handling it here fails", async () => {
    let fail = true;
    const { queued, handlerOf, prepare } = await setup({
      onCommit: async () => {
        if (fail) {
          fail = false;
          throw new InjectedFailure("injected failure at before-commit");
        }
      },
    });
    await handlerOf("p1")(prepare("p1"));
    await handlerOf("p2")(prepare("p2"));
    expect(queued.map((q) => `${q.message.type}:${q.to}`).sort()).toEqual(["commit:p1", "commit:p2"]);
  });

  it("loses a held message when the process dies before handling it, as a lost SQS message: nothing sent, the error through", async () => {
    const { memory, queued, handlerOf, prepare } = await setup({
      onCommit: async () => {
        throw new Died("killed");
      },
    });
    await handlerOf("p1")(prepare("p1"));
    await expect(handlerOf("p2")(prepare("p2"))).rejects.toThrow("killed");
    expect(queued.map((q) => `${q.message.type}:${q.to}`)).toEqual(["commit:p1"]);
    // The decision is durable and unacknowledged by p2: the coordinator's re-send is due.
    const tx = await memory.get("t");
    expect(tx?.state).toBe("committing");
    expect(tx?.dueAt).toBeDefined();
  });

  it("handles what its handler held even when the handler's own message failed afterwards", async () => {
    const { bus } = await setup();
    const handled: string[] = [];
    const handle = deliveringToSelf(
      async (m) => {
        handled.push(m.type);
        if (m.type === "prepare") {
          await bus.toParticipant("p2", { type: "rollback", txId: "t", participant: "p2" });
          throw new Error("the vote's send failed");
        }
      },
      { fallback: async () => {}, log: quiet, keysOf: () => ({}) },
    );
    await expect(
      handle({ type: "prepare", txId: "t", participant: "p2", deadline: 1, startedAt: 0, branches: [] }),
    ).rejects.toThrow("the vote's send failed");
    expect(handled).toEqual(["prepare", "rollback"]);
  });

  it("hands over once more what a held message's handling sends its participant, and queues the level after", async () => {
    const { bus, queued } = holdingQueue();
    const handled: string[] = [];
    const handle = deliveringToSelf(
      async (m) => {
        handled.push(m.type);
        if (m.type === "prepare")
          await bus.toParticipant("p2", { type: "rollback", txId: "t", participant: "p2" });
        if (m.type === "rollback")
          await bus.toParticipant("p2", { type: "commit", txId: "t", participant: "p2" });
        if (m.type === "commit")
          await bus.toParticipant("p2", { type: "rollback", txId: "t2", participant: "p2" });
      },
      { fallback: async () => {}, log: quiet, keysOf: () => ({}) },
    );
    await handle({ type: "prepare", txId: "t", participant: "p2", deadline: 1, startedAt: 0, branches: [] });
    // The COMMIT that releases a lock, then the woken waiter's PREPARE: both here; what follows, queued.
    expect(handled).toEqual(["prepare", "rollback", "commit"]);
    expect(queued).toEqual(["rollback:p2"]);
  });

  it("sends a held message whose handling failed to its queue at once, through the bus that holds", async () => {
    const { bus, queued } = holdingQueue();
    const handled: string[] = [];
    const handle = deliveringToSelf(
      async (m) => {
        handled.push(m.type);
        if (m.type === "prepare")
          await bus.toParticipant("p2", { type: "commit", txId: "t", participant: "p2" });
        if (m.type === "commit") throw new Error("throttled");
      },
      // As the roles wire it: the fallback is the bus that holds, not the queue alone.
      { fallback: (to, m) => bus.toParticipant(to, m), log: quiet, keysOf: () => ({}) },
    );
    await handle({ type: "prepare", txId: "t", participant: "p2", deadline: 1, startedAt: 0, branches: [] });
    expect(handled).toEqual(["prepare", "commit"]);
    expect(queued).toEqual(["commit:p2"]);
  });

  it("hands over woken PREPAREs oldest first, one after another, when asked (detect), and all at once otherwise", async () => {
    const run = async (oldestFirst: boolean) => {
      const bus = holdingForSelf({ toCoordinator: async () => {}, toParticipant: async () => {} });
      const order: string[] = [];
      let inFlight = 0;
      let most = 0;
      const waiter = (txId: string, startedAt: number) => ({
        type: "prepare" as const,
        txId,
        participant: "p2",
        deadline: 1,
        startedAt,
        branches: [{ index: 0, action: "deposit", input: {} }],
      });
      const handle = deliveringToSelf(
        async (m) => {
          if (m.type === "commit") {
            // The release wakes three waiters, youngest first.
            for (const [id, at] of [
              ["w30", 30],
              ["w10", 10],
              ["w20", 20],
            ] as const)
              await bus.toParticipant("p2", waiter(id, at));
            return;
          }
          inFlight++;
          most = Math.max(most, inFlight);
          await new Promise((r) => setTimeout(r, 5));
          order.push(m.txId);
          inFlight--;
        },
        { fallback: async () => {}, log: quiet, keysOf: () => ({}), oldestFirst },
      );
      await handle({ type: "commit", txId: "holder", participant: "p2" });
      return { order, most };
    };
    expect(await run(true)).toEqual({ order: ["w10", "w20", "w30"], most: 1 });
    expect((await run(false)).most).toBe(3);
  });

  it("holds only undelayed messages to the handling's own participant, and nothing once its message is done", async () => {
    const { bus, queued } = holdingQueue();
    const self: SelfScope = { participant: "p2", depth: 1, held: [], open: true };
    const rollback = (participant: string) => ({ type: "rollback", txId: "t", participant }) as const;
    await runAsSelf(self, async () => {
      await bus.toParticipant("p1", rollback("p1"));
      await bus.toParticipant("p2", rollback("p2"), { delaySeconds: 1 });
      await bus.toParticipant("p2", rollback("p2"));
    });
    expect(self.held.map((h) => h.message.participant)).toEqual(["p2"]);
    self.open = false;
    await runAsSelf(self, () => bus.toParticipant("p2", rollback("p2")));
    expect(queued).toEqual(["rollback:p1", "rollback:p2", "rollback:p2"]);
  });

  it("applies a group of answers from several participants' handlings as no one's", () => {
    const p1: SelfScope = { participant: "p1", depth: 1, held: [], open: true };
    const p1again: SelfScope = { participant: "p1", depth: 1, held: [], open: true };
    const p2: SelfScope = { participant: "p2", depth: 1, held: [], open: true };
    expect(selfOfGroup([p1, p1again])).toBe(p1);
    expect(selfOfGroup([p1, p2])).toBeUndefined();
    expect(selfOfGroup([p1, undefined])).toBeUndefined();
    expect(selfOfGroup([])).toBeUndefined();
  });

  it("handles a held message under the sender's trace and the log keys a delivery has", async () => {
    const { bus } = await setup();
    const trace = startTrace();
    const seen: { trace: string | undefined; keys: object }[] = [];
    const handle = deliveringToSelf(
      async (m) => {
        if (m.type === "prepare") {
          await withTrace(trace, () =>
            bus.toParticipant("p2", { type: "rollback", txId: "t9", participant: "p2" }),
          );
        } else seen.push({ trace: currentTraceparent(), keys: currentLogKeys() });
      },
      { fallback: async () => {}, log: quiet, keysOf: (m) => ({ txId: m.txId }) },
    );
    await handle({ type: "prepare", txId: "t", participant: "p2", deadline: 1, startedAt: 0, branches: [] });
    expect(seen).toEqual([{ trace, keys: { txId: "t9" } }]);
  });
});
