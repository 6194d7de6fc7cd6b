/**
 * How an exclusive lock passes from its holder to a waiter: the waiter
 * registers right after it looks (nothing in between for the lock to change
 * hands in), and a release in the process that parked the waiter's PREPARE
 * runs the oldest at once, before a newer PREPARE can take the lock.
 */
import { describe, expect, it } from "vitest";
import type { CoordinatorMessage } from "../../src/core/messages.ts";
import { createParticipant } from "../../src/participant-kit/participant.ts";
import type { ParticipantStore } from "../../src/participant-kit/participant-store.ts";
import { type AccountState, bankModel } from "../../src/participants/bank/bank-rules.ts";
import { silentLogger } from "../../testkit/logging.ts";
import { createMemoryParticipantStore } from "../../testkit/memory/memory-participant-store.ts";
import { recording } from "../helpers/buses.ts";
import { T0, withdrawal } from "../helpers/prepares.ts";

const P = "bank-1";

const prepare = (txId: string, startedAt: number) => withdrawal(P, txId, startedAt);

/** Account a on P, a participant with exclusive locks under wait-die, and what it says and does, in order. */
async function setup(
  wrap: (store: ParticipantStore<AccountState>) => ParticipantStore<AccountState> = (s) => s,
) {
  const memory = createMemoryParticipantStore(bankModel);
  await memory.putResource(P, "a", { balance: 100 });
  const order: string[] = [];
  const bus = recording();
  const store = wrap({
    ...memory,
    addWaiter: async (...args) => {
      order.push(`addWaiter ${args[3].txId}`);
      return memory.addWaiter(...args);
    },
  });
  const participant = createParticipant({
    name: P,
    model: bankModel,
    store,
    bus: {
      toCoordinator: async (m) => {
        order.push(`${m.type} ${m.txId}`);
        await bus.toCoordinator(m);
      },
      toParticipant: bus.toParticipant,
    },
    clock: () => T0,
    log: silentLogger(),
    lockPolicy: "wait-die",
    lockMode: "exclusive",
    sleep: async () => {},
  });
  const told = () => bus.sent.map((s) => s.message as CoordinatorMessage);
  return { memory, participant, order, told };
}

describe("a PREPARE that must wait for a lock", () => {
  it("registers right after its look, and only then tells the coordinator it waits", async () => {
    const { participant, order } = await setup();
    await participant.handle(prepare("holder", T0 - 10));
    order.length = 0;
    await participant.handle(prepare("older", T0 - 100));
    expect(order).toEqual(["addWaiter older", "waiting older"]);
  });
});

describe("a release in the process that parked waiting PREPAREs", () => {
  const commit = { type: "commit", txId: "holder", participant: P, startedAt: T0 - 10 } as const;

  it("runs the oldest at once: it holds the lock before anyone is told of the release", async () => {
    const { participant, memory, order, told } = await setup();
    await participant.handle(prepare("holder", T0 - 10));
    await participant.handle(prepare("second", T0 - 50));
    await participant.handle(prepare("first", T0 - 100));
    order.length = 0;
    await participant.handle(commit);

    expect((await memory.getResource(P, "a"))?.lockedBy).toBe("first");
    expect((await memory.getBarrier(P, "first"))?.state).toBe("prepared");
    // The oldest voted before any wake-up went out; the other is woken through the coordinator.
    expect(order.indexOf("vote first")).toBeGreaterThanOrEqual(0);
    expect(order.indexOf("vote first")).toBeLessThan(order.indexOf("released second"));
    expect(told()).toContainEqual({ type: "released", txId: "second", participant: P, holder: "holder" });
    // Handled here, the oldest is not woken through the coordinator as well.
    expect(told()).not.toContainEqual(expect.objectContaining({ type: "released", txId: "first" }));
    expect(told()).toContainEqual(
      expect.objectContaining({ type: "ack", txId: "holder", decision: "commit" }),
    );
  });

  it("leaves a parked PREPARE that fails to the coordinator's wake-up", async () => {
    let failing = false;
    const { participant, memory, told } = await setup((store) => ({
      ...store,
      loadForPrepare: async (...args) => {
        if (failing && args[1] === "first") throw new Error("throttled");
        return store.loadForPrepare(...args);
      },
    }));
    await participant.handle(prepare("holder", T0 - 10));
    await participant.handle(prepare("first", T0 - 100));
    failing = true;
    await participant.handle(commit);

    expect((await memory.getResource(P, "a"))?.lockedBy).toBeUndefined();
    expect(told()).toContainEqual({ type: "released", txId: "first", participant: P, holder: "holder" });
    expect(told()).toContainEqual(
      expect.objectContaining({ type: "ack", txId: "holder", decision: "commit" }),
    );
  });
});

describe("a PREPARE that died at a lock, delivered again", () => {
  it("tells the coordinator again of a release that came before its no: the restart need not wait for it", async () => {
    const { participant, told } = await setup();
    await participant.handle(prepare("holder", T0 - 100));
    await participant.handle(prepare("young", T0 - 10));
    expect(told()).toContainEqual(
      expect.objectContaining({ type: "vote", txId: "young", vote: "no", restart: true, holder: "holder" }),
    );
    // Still held: the registered wake-up will come, nothing more is said.
    const before = told().length;
    await participant.handle(prepare("young", T0 - 10));
    expect(
      told()
        .slice(before)
        .map((m) => m.type),
    ).toEqual(["vote"]);

    await participant.handle({ type: "commit", txId: "holder", participant: P, startedAt: T0 - 100 });
    const after = told().length;
    await participant.handle(prepare("young", T0 - 10));
    expect(told().slice(after)).toEqual([
      expect.objectContaining({ type: "vote", txId: "young", vote: "no", restart: true }),
      { type: "released", txId: "young", participant: P, holder: "holder" },
    ]);
  });
});
