/**
 * The kit's saga step barriers, driven through a participant's handler over the
 * in-memory store (which passes the same contract as DynamoDB): every order and
 * repetition of action and compensation, atomic stages, locks, deadlines, an
 * unreliable external service. test/integration/saga-steps.test.ts repeats the
 * main cases over DynamoDB Local.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type {
  ActionMessage,
  CompensateMessage,
  FinishedMessage,
  ParticipantMessage,
  PrepareMessage,
} from "../../src/core/messages.ts";
import type { Crash } from "../../src/crash-points.ts";
import { ProtocolViolationError, RetryLaterError } from "../../src/participant-kit/errors.ts";
import type { ExternalService } from "../../src/participant-kit/kit-deps.ts";
import type { LockMode } from "../../src/participant-kit/lock-mode.ts";
import { createParticipant } from "../../src/participant-kit/participant.ts";
import { inventoryModel } from "../../src/participants/commerce/inventory-model.ts";
import { silentLogger } from "../../testkit/logging.ts";
import { createMemoryParticipantStore } from "../../testkit/memory/memory-participant-store.ts";
import { recording } from "../helpers/buses.ts";

const T0 = 1_700_000_000_000;
const P = "inventory";

async function world(options: { service?: ExternalService; crash?: Crash; lockMode?: LockMode } = {}) {
  const store = createMemoryParticipantStore(inventoryModel);
  const bus = recording();
  const clock = { now: T0 };
  const participant = createParticipant({
    name: P,
    model: inventoryModel,
    store,
    bus,
    clock: () => clock.now,
    log: silentLogger(),
    lockPolicy: "no-wait",
    ...(options.lockMode ? { lockMode: options.lockMode } : {}),
    sleep: async () => {},
    ...(options.service ? { service: options.service } : {}),
    ...(options.crash ? { crash: options.crash } : {}),
  });
  await store.putResource(P, "w", { stock: 10 });
  const stock = async () => (await store.getResource(P, "w"))?.state?.stock;
  /** What the participant told the coordinator, as `step:outcome[:reason]` (or `vote:...`). */
  const told = () =>
    bus.sent.map(({ message: m }) =>
      m.type === "result"
        ? `${m.step}:${m.outcome}${m.reason ? `:${m.reason}` : ""}`
        : m.type === "vote"
          ? `vote:${m.vote}${m.reason ? `:${m.reason}` : ""}`
          : m.type,
    );
  return { store, bus, clock, handle: participant.handle, stock, told };
}

const action = (over: Partial<ActionMessage> = {}): ActionMessage => ({
  type: "action",
  txId: "t1",
  participant: P,
  branch: 1,
  action: "reserve",
  input: { sku: "w", quantity: 3 },
  deadline: T0 + 60_000,
  startedAt: T0,
  ...over,
});
const compensate = (over: Partial<CompensateMessage> = {}): CompensateMessage => ({
  type: "compensate",
  txId: "t1",
  participant: P,
  branch: 1,
  action: "release",
  input: { sku: "w", quantity: 3 },
  startedAt: T0,
  ...over,
});
const prepare = (over: Partial<PrepareMessage> = {}): PrepareMessage => ({
  type: "prepare",
  txId: "t1",
  participant: P,
  deadline: T0 + 60_000,
  startedAt: T0,
  branches: [{ index: 1, action: "reserve", input: { sku: "w", quantity: 3 } }],
  ...over,
});
const decide = (type: "commit" | "rollback", txId = "t1"): ParticipantMessage => ({
  type,
  txId,
  participant: P,
});

describe("saga step barriers", () => {
  it.each<{ name: string; deliveries: ParticipantMessage[]; told: string[]; stock: number; step?: string }>([
    { name: "an action applies once", deliveries: [action()], told: ["action:done"], stock: 7, step: "done" },
    {
      name: "an action delivered twice applies once and says done twice",
      deliveries: [action(), action()],
      told: ["action:done", "action:done"],
      stock: 7,
      step: "done",
    },
    {
      name: "action then compensate undoes it",
      deliveries: [action(), compensate()],
      told: ["action:done", "compensation:done"],
      stock: 10,
      step: "compensated",
    },
    {
      name: "a compensation delivered twice undoes once",
      deliveries: [action(), compensate(), compensate()],
      told: ["action:done", "compensation:done", "compensation:done"],
      stock: 10,
      step: "compensated",
    },
    {
      name: "compensate before the action: a no-op that blocks the late action",
      deliveries: [compensate(), action(), action()],
      told: ["compensation:done", "action:failed:compensated", "action:failed:compensated"],
      stock: 10,
      step: "compensated",
    },
    {
      name: "a failed action records its reason, and says it again",
      deliveries: [
        action({ input: { sku: "w", quantity: 11 } }),
        action({ input: { sku: "w", quantity: 11 } }),
      ],
      told: ["action:failed:insufficient_stock", "action:failed:insufficient_stock"],
      stock: 10,
      step: "failed",
    },
    {
      name: "a failed action's compensation is a no-op",
      deliveries: [
        action({ input: { sku: "w", quantity: 11 } }),
        compensate({ input: { sku: "w", quantity: 11 } }),
      ],
      told: ["action:failed:insufficient_stock", "compensation:done"],
      stock: 10,
      step: "compensated",
    },
    {
      name: "an action past its deadline fails without applying",
      deliveries: [action({ deadline: T0 })],
      told: ["action:failed:timeout"],
      stock: 10,
      step: "failed",
    },
    {
      name: "an action whose input does not parse fails",
      deliveries: [action({ input: { sku: "w" } })],
      told: ["action:failed:invalid_input"],
      stock: 10,
      step: "failed",
    },
    {
      name: "a compensation that cannot apply is retried, and nothing is written",
      deliveries: [action(), compensate({ input: { sku: "ghost", quantity: 3 } })],
      told: ["action:done", "compensation:retry:unknown_sku"],
      stock: 7,
      step: "done",
    },
  ])("$name", async ({ deliveries, told, stock, step }) => {
    const w = await world();
    for (const message of deliveries) await w.handle(message);
    expect(w.told()).toEqual(told);
    expect(await w.stock()).toBe(stock);
    expect((await w.store.getStep(P, "t1", 1))?.state).toBe(step);
  });

  it("a saga step never takes what a prepared 2PC transaction reserved", async () => {
    const w = await world();
    await w.handle(
      prepare({ txId: "2pc", branches: [{ index: 0, action: "reserve", input: { sku: "w", quantity: 8 } }] }),
    );
    // 10 in stock, 8 reserved: a step taking 3 finds only 2 available.
    await w.handle(action({ input: { sku: "w", quantity: 3 } }));
    await w.handle(action({ branch: 2, input: { sku: "w", quantity: 2 } }));
    expect(await w.store.getResource(P, "w")).toMatchObject({
      state: { stock: 8 },
      holds: { stock: { reserved: 8, pending: 0 } },
    });
    await w.handle(decide("commit", "2pc"));
    expect(w.told()).toEqual(["vote:yes", "action:failed:insufficient_stock", "action:done", "ack"]);
    expect(await w.store.getResource(P, "w")).toEqual({ id: "w", version: 3, state: { stock: 0 } });
  });

  it("a saga step applies beside a prepared 2PC transaction's pending credit, which counts only once committed", async () => {
    const w = await world();
    await w.handle(
      prepare({ txId: "2pc", branches: [{ index: 0, action: "release", input: { sku: "w", quantity: 5 } }] }),
    );
    await w.handle(action({ input: { sku: "w", quantity: 10 } }));
    await w.handle(action({ branch: 2, input: { sku: "w", quantity: 1 } }));
    await w.handle(decide("rollback", "2pc"));
    expect(w.told()).toEqual(["vote:yes", "action:done", "action:failed:insufficient_stock", "ack"]);
    expect(await w.store.getResource(P, "w")).toEqual({ id: "w", version: 2, state: { stock: 0 } });
  });

  it("under exclusive locks, a resource locked by a 2PC transaction makes the step retry, writing nothing, until the lock goes", async () => {
    const w = await world({ lockMode: "exclusive" });
    await w.handle(
      prepare({ txId: "2pc", branches: [{ index: 0, action: "reserve", input: { sku: "w", quantity: 1 } }] }),
    );
    await w.handle(action());
    expect(await w.store.getStep(P, "t1", 1)).toBeUndefined();
    await w.handle(decide("commit", "2pc"));
    await w.handle(action());
    expect(w.told()).toEqual(["vote:yes", "action:retry:lock_conflict", "ack", "action:done"]);
    expect(await w.stock()).toBe(6);
  });

  it("under exclusive locks, a compensation meeting a 2PC lock retries, then undoes once the lock is gone", async () => {
    const w = await world({ lockMode: "exclusive" });
    await w.handle(action());
    await w.handle(
      prepare({ txId: "2pc", branches: [{ index: 0, action: "release", input: { sku: "w", quantity: 1 } }] }),
    );
    await w.handle(compensate());
    await w.handle(decide("rollback", "2pc"));
    await w.handle(compensate());
    expect(w.told()).toEqual([
      "action:done",
      "vote:yes",
      "compensation:retry:lock_conflict",
      "ack",
      "compensation:done",
    ]);
    expect(await w.stock()).toBe(10);
  });

  it("never answers for another transaction's barrier under a reused id", async () => {
    const w = await world();
    await w.handle(action());
    await w.handle(action({ startedAt: T0 + 1 }));
    await w.handle(compensate({ startedAt: T0 + 1 }));
    expect(w.told()).toEqual(["action:done", "action:failed:id_reused", "compensation:done"]);
    expect(await w.stock()).toBe(7);
    // The earlier transaction's barrier was final: the new one's tombstone replaces it.
    expect(await w.store.getStep(P, "t1", 1)).toMatchObject({ state: "compensated", txStartedAt: T0 + 1 });
  });

  it("a reused id's compensation that met the earlier barrier still blocks its late action and copies once that barrier expires", async () => {
    const retention = 15 * 86_400_000;
    const w = await world();
    // The earlier transaction under this id ran branch 1 and finished: its barrier expires a retention later.
    await w.handle(action());
    await w.handle({ type: "finished", txId: "t1", participant: P, startedAt: T0, branches: [1] });
    // The id comes back just before then; its action meets the old barrier, its compensation follows.
    const later = T0 + retention - 30_000;
    const again = { startedAt: later, deadline: later + 60_000 };
    w.clock.now = later;
    await w.handle(action(again));
    await w.handle(compensate({ startedAt: later }));
    // The old barrier expires (TTL); copies of this transaction's action and compensation come
    // after, the action still before its deadline.
    w.clock.now = T0 + retention + 10_000;
    w.store.expire(w.clock.now);
    await w.handle(action(again));
    await w.handle(compensate({ startedAt: later }));
    expect(w.told()).toEqual([
      "action:done",
      "action:failed:id_reused",
      "compensation:done",
      "action:failed:compensated",
      "compensation:done",
    ]);
    // Applied once, by the earlier transaction; never by this one.
    expect(await w.stock()).toBe(7);
    // The compensation was recorded when it was first answered, not by a later copy.
    expect(await w.store.getStep(P, "t1", 1)).toMatchObject({
      state: "compensated",
      txStartedAt: later,
      compensatedAt: later,
    });
  });

  it("a late copy of an earlier transaction's compensation never touches a reused id's barrier", async () => {
    const w = await world();
    const later = T0 + 1;
    await w.handle(action({ startedAt: later }));
    await w.handle(compensate({ startedAt: T0 }));
    expect(w.told()).toEqual(["action:done", "compensation:done"]);
    expect(await w.stock()).toBe(7);
    expect(await w.store.getStep(P, "t1", 1)).toMatchObject({ state: "done", txStartedAt: later });
    // Its own compensation still finds its done barrier and undoes it, once.
    await w.handle(compensate({ startedAt: later }));
    await w.handle(compensate({ startedAt: T0 }));
    expect(await w.stock()).toBe(10);
    expect(await w.store.getStep(P, "t1", 1)).toMatchObject({ state: "compensated", txStartedAt: later });
  });

  it("a late copy of an earlier transaction's atomic compensation never undoes its stage again over a reused id's barrier", async () => {
    const w = await world();
    // The earlier transaction's atomic stage committed branch 1 here, and was compensated.
    await w.handle(prepare({ sagaStage: true }));
    await w.handle({ type: "commit", txId: "t1", participant: P, startedAt: T0 });
    await w.handle(compensate({ atomic: true }));
    expect(await w.stock()).toBe(10);
    // The id comes back; its branch 1 meets the old step barrier and is compensated.
    const later = T0 + 1;
    await w.handle(action({ startedAt: later }));
    await w.handle(compensate({ startedAt: later }));
    // A copy of the earlier compensation, late: the stage's commit is still on its 2PC barrier.
    await w.handle(compensate({ atomic: true }));
    expect(w.told()).toEqual([
      "vote:yes",
      "ack",
      "compensation:done",
      "action:failed:id_reused",
      "compensation:done",
      "compensation:done",
    ]);
    expect(await w.stock()).toBe(10);
    expect(await w.store.getStep(P, "t1", 1)).toMatchObject({ state: "compensated", txStartedAt: later });
  });

  it("undoes a reused id's atomic stage though an earlier transaction's step barrier holds its branch", async () => {
    const w = await world();
    // The earlier transaction under this id ran branch 1 as a plain step; its barrier lingers.
    await w.handle(action());
    const later = T0 + 1;
    // The id's new transaction runs branch 1 in an atomic stage: its 2PC commit applies it.
    await w.handle(prepare({ startedAt: later, sagaStage: true }));
    await w.handle({ type: "commit", txId: "t1", participant: P, startedAt: later });
    expect(await w.stock()).toBe(4);
    await w.handle(compensate({ atomic: true, startedAt: later }));
    expect(w.told()).toEqual(["action:done", "vote:yes", "ack", "compensation:done"]);
    // The stage's effect is undone; the earlier transaction's step was final and is replaced.
    expect(await w.stock()).toBe(7);
    expect(await w.store.getStep(P, "t1", 1)).toMatchObject({ state: "compensated", txStartedAt: later });
    await w.handle(compensate({ atomic: true, startedAt: later }));
    expect(await w.stock()).toBe(7);
  });

  it("keeps a done step barrier until told the saga is finished, then lets it expire; told again, nothing changes", async () => {
    const w = await world();
    await w.handle(action());
    await w.handle(action({ branch: 2 }));
    await w.handle(compensate({ branch: 2 }));
    expect((await w.store.getStep(P, "t1", 1))?.expiresAt).toBeUndefined();
    const compensatedExpiry = (await w.store.getStep(P, "t1", 2))?.expiresAt;
    expect(compensatedExpiry).toBeGreaterThan(T0 / 1000);
    w.clock.now = T0 + 90_000;
    const finished: FinishedMessage = {
      type: "finished",
      txId: "t1",
      participant: P,
      startedAt: T0,
      branches: [1, 2],
    };
    await w.handle(finished);
    const expiry = (await w.store.getStep(P, "t1", 1))?.expiresAt;
    expect(expiry).toBeGreaterThan((T0 + 90_000) / 1000);
    expect((await w.store.getStep(P, "t1", 2))?.expiresAt).toBe(compensatedExpiry);
    w.clock.now = T0 + 180_000;
    await w.handle(finished);
    expect((await w.store.getStep(P, "t1", 1))?.expiresAt).toBe(expiry);
    // Nothing answers it: no message goes to the coordinator.
    expect(w.told()).toEqual(["action:done", "action:done", "compensation:done"]);
  });

  it("an external service that fails makes action and compensation retry, writing nothing", async () => {
    let down = true;
    const calls: string[] = [];
    const w = await world({
      service: async (call) => {
        calls.push(`${call.step}:${call.txId}:${call.branches.map((b) => b.index).join()}`);
        if (down) throw new RetryLaterError("provider_down");
      },
    });
    await w.handle(action());
    expect(await w.store.getStep(P, "t1", 1)).toBeUndefined();
    down = false;
    await w.handle(action());
    down = true;
    await w.handle(compensate());
    down = false;
    await w.handle(compensate());
    expect(w.told()).toEqual([
      "action:retry:provider_down",
      "action:done",
      "compensation:retry:provider_down",
      "compensation:done",
    ]);
    expect(calls).toEqual(["action:t1:1", "action:t1:1", "compensation:t1:1", "compensation:t1:1"]);
    expect(await w.stock()).toBe(10);
  });

  it("dying after the step's write, before its result (after-step-before-result): the redelivery says it, applies nothing more", async () => {
    let armed = true;
    const w = await world({
      crash: (point) => {
        if (armed && point === "after-step-before-result") {
          armed = false;
          throw new Error("killed");
        }
      },
    });
    await expect(w.handle(action())).rejects.toThrow("killed");
    expect(w.told()).toEqual([]);
    expect(await w.stock()).toBe(7);
    await w.handle(action());
    armed = true;
    await expect(w.handle(compensate())).rejects.toThrow("killed");
    await w.handle(compensate());
    expect(w.told()).toEqual(["action:done", "compensation:done"]);
    expect(await w.stock()).toBe(10);
  });

  it("a no-op compensation never calls the external service", async () => {
    const calls: unknown[] = [];
    const w = await world({ service: async (call) => void calls.push(call) });
    await w.handle(compensate());
    expect(calls).toEqual([]);
    expect(w.told()).toEqual(["compensation:done"]);
  });

  it("any order and number of deliveries, some at once: the compensation wins, applied once", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(fc.constantFrom("a", "c"), { minLength: 1, maxLength: 3 }), {
          minLength: 1,
          maxLength: 5,
        }),
        async (rounds) => {
          fc.pre(rounds.flat().includes("c"));
          const w = await world();
          // Each round's deliveries run concurrently: their reads and writes interleave.
          for (const round of rounds)
            await Promise.all(round.map((m) => w.handle(m === "a" ? action() : compensate())));
          expect(await w.stock()).toBe(10);
          expect((await w.store.getStep(P, "t1", 1))?.state).toBe("compensated");
          const told = w.told();
          expect(told.filter((t) => t.startsWith("compensation:"))).toEqual(
            rounds
              .flat()
              .filter((m) => m === "c")
              .map(() => "compensation:done"),
          );
          expect(told.every((t) => !t.includes("retry"))).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe("compensation of an atomic stage (its action ran through 2PC)", () => {
  it("after the stage committed: undoes it, once", async () => {
    const w = await world();
    await w.handle(prepare());
    await w.handle(decide("commit"));
    expect(await w.stock()).toBe(7);
    await w.handle(compensate({ atomic: true }));
    await w.handle(compensate({ atomic: true }));
    expect(w.told()).toEqual(["vote:yes", "ack", "compensation:done", "compensation:done"]);
    expect(await w.stock()).toBe(10);
    expect((await w.store.getStep(P, "t1", 1))?.state).toBe("compensated");
  });

  it("after the stage rolled back: a no-op", async () => {
    const w = await world();
    await w.handle(prepare());
    await w.handle(decide("rollback"));
    await w.handle(compensate({ atomic: true }));
    expect(w.told()).toEqual(["vote:yes", "ack", "compensation:done"]);
    expect(await w.stock()).toBe(10);
  });

  it("after the stage voted no: a no-op", async () => {
    const w = await world();
    await w.handle(
      prepare({ branches: [{ index: 1, action: "reserve", input: { sku: "w", quantity: 99 } }] }),
    );
    await w.handle(compensate({ atomic: true }));
    expect(w.told()).toEqual(["vote:no:insufficient_stock", "compensation:done"]);
    expect(await w.stock()).toBe(10);
  });

  it("before its PREPARE: a no-op that makes the late PREPARE vote no", async () => {
    const w = await world();
    await w.handle(compensate({ atomic: true }));
    await w.handle(prepare());
    expect(w.told()).toEqual(["compensation:done", "vote:no:rolled_back"]);
    expect((await w.store.getResource(P, "w"))?.lockedBy).toBeUndefined();
    expect(await w.stock()).toBe(10);
  });

  it("while the stage is undecided here: retries until the decision arrives", async () => {
    const w = await world();
    await w.handle(prepare());
    await w.handle(compensate({ atomic: true }));
    await w.handle(decide("commit"));
    await w.handle(compensate({ atomic: true }));
    expect(w.told()).toEqual([
      "vote:yes",
      "compensation:retry:awaiting_decision",
      "ack",
      "compensation:done",
    ]);
    expect(await w.stock()).toBe(10);
  });

  it("for a branch the committed barrier does not hold: a protocol violation, nothing undone", async () => {
    const w = await world();
    await w.handle(prepare());
    await w.handle(decide("commit"));
    await expect(w.handle(compensate({ atomic: true, branch: 4 }))).rejects.toBeInstanceOf(
      ProtocolViolationError,
    );
    expect(await w.stock()).toBe(7);
  });
});

describe("2PC through the kit", () => {
  it("a PREPARE for other branches of a transaction never takes the barrier's yes", async () => {
    const w = await world();
    await w.handle(prepare());
    await w.handle(
      prepare({ branches: [{ index: 2, action: "release", input: { sku: "w", quantity: 1 } }] }),
    );
    expect(w.told()).toEqual(["vote:yes", "vote:no:branches_mismatch"]);
  });

  it("a transient failure of the external service at PREPARE throws and writes nothing", async () => {
    const w = await world({
      service: async () => {
        throw new RetryLaterError("provider_down");
      },
    });
    await expect(w.handle(prepare())).rejects.toBeInstanceOf(RetryLaterError);
    expect(await w.store.getBarrier(P, "t1")).toBeUndefined();
    expect((await w.store.getResource(P, "w"))?.lockedBy).toBeUndefined();
    expect(w.told()).toEqual([]);
  });
});
