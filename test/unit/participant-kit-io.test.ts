/**
 * What a 2PC participant asks of its store, call by call, over the in-memory
 * store (which passes the DynamoDB adapter's contract): a PREPARE whose
 * branches declare their moves writes without reading (the blind prepare) and
 * falls back to reading on any refusal; a decision after a PREPARE in the same
 * process writes from the barrier it remembers, without reading it.
 */
import { describe, expect, it } from "vitest";
import type {
  CoordinatorMessage,
  DecisionMessage,
  PrepareMessage,
  VoteMessage,
} from "../../src/core/messages.ts";
import type { CounterName } from "../../src/metrics/catalog.ts";
import type { Metrics } from "../../src/metrics/metrics.ts";
import type { KitDeps, OfferCommit } from "../../src/participant-kit/kit-deps.ts";
import type { LockMode } from "../../src/participant-kit/lock-mode.ts";
import { createParticipant } from "../../src/participant-kit/participant.ts";
import type { ParticipantStore } from "../../src/participant-kit/participant-store.ts";
import { type AccountState, bankModel } from "../../src/participants/bank/bank-rules.ts";
import type { OwnPrepare } from "../../src/ports/alongside.ts";
import { silentLogger } from "../../testkit/logging.ts";
import { asMemory } from "../../testkit/memory/memory-alongside.ts";
import {
  createMemoryParticipantStore,
  type MemoryParticipantStore,
} from "../../testkit/memory/memory-participant-store.ts";
import { recording } from "../helpers/buses.ts";

const T0 = 1_700_000_000_000;
const P = "bank-1";
type Store = MemoryParticipantStore<AccountState>;

/** The store with every call named, in order, as `method` (and `method!` when it threw). */
function counted(store: Store): { store: Store; calls: string[] } {
  const calls: string[] = [];
  const wrapped = { ...store } as Record<string, unknown>;
  for (const [method, fn] of Object.entries(store)) {
    if (typeof fn !== "function") continue;
    if (method.endsWith("Alongside")) {
      // A part for the record's write: built at once, not awaited.
      wrapped[method] = (...args: unknown[]) => {
        calls.push(method);
        return (fn as (...a: unknown[]) => unknown)(...args);
      };
      continue;
    }
    wrapped[method] = async (...args: unknown[]) => {
      try {
        const out = await (fn as (...a: unknown[]) => Promise<unknown>)(...args);
        calls.push(method);
        return out;
      } catch (err) {
        calls.push(`${method}!`);
        throw err;
      }
    };
  }
  return { store: wrapped as unknown as Store, calls };
}

/** A participant process over `store`: its sends recorded, its pauses counted, its metrics kept. */
function processOver(
  store: ParticipantStore<AccountState>,
  options: {
    lockMode?: LockMode;
    service?: () => Promise<void>;
    clock?: () => number;
    voteWithPrepare?: KitDeps<AccountState>["voteWithPrepare"];
    offerCommit?: OfferCommit;
  } = {},
) {
  const bus = recording();
  const pauses: number[] = [];
  const counters: string[] = [];
  const metrics: Metrics = {
    count: (name: CounterName) => void counters.push(name),
    observe() {},
  };
  const participant = createParticipant({
    name: P,
    model: bankModel,
    store,
    bus,
    clock: options.clock ?? (() => T0),
    log: silentLogger(),
    lockPolicy: "no-wait",
    metrics,
    sleep: async (ms) => void pauses.push(ms),
    ...(options.lockMode ? { lockMode: options.lockMode } : {}),
    ...(options.service ? { service: options.service } : {}),
    ...(options.voteWithPrepare ? { voteWithPrepare: options.voteWithPrepare } : {}),
    ...(options.offerCommit ? { offerCommit: options.offerCommit } : {}),
  });
  const told = () => bus.sent.map((s) => s.message as CoordinatorMessage);
  return { handle: participant.handle, told, pauses, counters };
}

async function world(balances: Record<string, number> = { a: 100, b: 5 }) {
  const memory = createMemoryParticipantStore(bankModel);
  for (const [id, balance] of Object.entries(balances)) await memory.putResource(P, id, { balance });
  const { store, calls } = counted(memory);
  const account = async (id: string) => memory.getResource(P, id);
  return { memory, store, calls, account };
}

const prepare = (txId: string, branches: PrepareMessage["branches"], extra: Partial<PrepareMessage> = {}) =>
  ({
    type: "prepare",
    txId,
    participant: P,
    deadline: T0 + 60_000,
    startedAt: T0 - 10,
    branches,
    ...extra,
  }) as PrepareMessage;
const withdraw = (account: string, amount: number, index = 0) => ({
  index,
  action: "withdraw",
  input: { account, amount },
});
const deposit = (account: string, amount: number, index = 1) => ({
  index,
  action: "deposit",
  input: { account, amount },
});
const decision = (type: "commit" | "rollback", txId: string, extra: Partial<DecisionMessage> = {}) =>
  ({ type, txId, participant: P, startedAt: T0 - 10, ...extra }) as DecisionMessage;

describe("a PREPARE whose branches declare their moves writes without reading", () => {
  it("holds a withdraw and a deposit with one write and no read, and votes yes", async () => {
    const { store, calls, account } = await world();
    const p = processOver(store);
    await p.handle(prepare("t1", [withdraw("a", 30), deposit("b", 7)]));
    expect(calls).toEqual(["prepare"]);
    expect(p.told()).toEqual([{ type: "vote", txId: "t1", participant: P, vote: "yes" }]);
    expect((await account("a"))?.holds).toEqual({ balance: { reserved: 30, pending: 0 } });
    expect((await account("b"))?.holds).toEqual({ balance: { reserved: 0, pending: 7 } });
  });

  it("commits a same-server transfer in one phase with one write and no read", async () => {
    const { store, calls, account } = await world();
    const p = processOver(store);
    const branch = { index: 0, action: "transfer", input: { account: "a", to_account: "b", amount: 40 } };
    await p.handle(prepare("t1", [branch], { onePhase: true }));
    expect(calls).toEqual(["commitOnePhase"]);
    expect(p.told()).toEqual([{ type: "ack", txId: "t1", participant: P, decision: "commit" }]);
    expect((await account("a"))?.state).toEqual({ balance: 60 });
    expect((await account("b"))?.state).toEqual({ balance: 45 });
  });

  it("answers a repeated PREPARE from the barrier already there: the refused write falls back to the read", async () => {
    const { store, calls, account } = await world();
    const p = processOver(store);
    await p.handle(prepare("t1", [withdraw("a", 30)]));
    await p.handle(prepare("t1", [withdraw("a", 30)]));
    expect(calls).toEqual(["prepare", "prepare!", "loadForPrepare"]);
    expect(p.told()).toEqual([
      { type: "vote", txId: "t1", participant: P, vote: "yes" },
      { type: "vote", txId: "t1", participant: P, vote: "yes" },
    ]);
    // Held once, and the fallback waited for nothing.
    expect((await account("a"))?.holds).toEqual({ balance: { reserved: 30, pending: 0 } });
    expect(p.pauses).toEqual([]);
    expect(p.counters).toEqual(["concord_blind_prepare_fallbacks_total"]);
  });

  it("refuses insufficient funds with the model's reason, read after the refused write, at once", async () => {
    const { store, calls, account } = await world();
    const p = processOver(store);
    await p.handle(prepare("t1", [deposit("b", 1, 0), withdraw("a", 101, 1)]));
    expect(calls).toEqual(["prepare!", "loadForPrepare", "refuse"]);
    expect(p.told()).toEqual([
      { type: "vote", txId: "t1", participant: P, vote: "no", reason: "insufficient_funds", failedBranch: 1 },
    ]);
    expect(p.pauses).toEqual([]);
    expect((await account("a"))?.holds).toBeUndefined();
    expect((await account("b"))?.holds).toBeUndefined();
  });

  it("refuses an unknown account with the model's reason", async () => {
    const { store, calls } = await world();
    const p = processOver(store);
    await p.handle(prepare("t1", [deposit("ghost", 1, 0)]));
    expect(calls).toEqual(["prepare!", "loadForPrepare", "refuse"]);
    expect(p.told()).toMatchObject([{ vote: "no", reason: "unknown_account", failedBranch: 0 }]);
  });

  it("a PREPARE after its ROLLBACK falls back and votes no, holding nothing", async () => {
    const { store, calls, account } = await world();
    const p = processOver(store);
    await p.handle(decision("rollback", "t1"));
    await p.handle(prepare("t1", [withdraw("a", 30)]));
    expect(calls).toEqual(["getBarrier", "rollbackUnprepared", "prepare!", "loadForPrepare"]);
    expect(p.told().at(-1)).toEqual({
      type: "vote",
      txId: "t1",
      participant: P,
      vote: "no",
      reason: "rolled_back",
    });
    expect((await account("a"))?.holds).toBeUndefined();
  });

  it("meets an exclusive lock by falling back to the read, which names the holder", async () => {
    const { store, calls } = await world();
    const p = processOver(store);
    // A branch that pins a version locks its account exclusively.
    await p.handle(
      prepare("pinned", [
        { index: 0, action: "withdraw", input: { account: "a", amount: 1, expectedVersion: 1 } },
      ]),
    );
    calls.length = 0;
    await p.handle(prepare("t2", [withdraw("a", 1)]));
    expect(calls).toEqual(["prepare!", "loadForPrepare", "refuse"]);
    expect(p.told().at(-1)).toMatchObject({ txId: "t2", vote: "no", reason: "lock_conflict" });
  });

  it("never writes blind what must be read: a pinned branch, exclusive mode, a later attempt, a late PREPARE, an external service", async () => {
    const pinned = { index: 0, action: "withdraw", input: { account: "a", amount: 1, expectedVersion: 1 } };
    const cases: { name: string; message: PrepareMessage; options?: Parameters<typeof processOver>[1] }[] = [
      { name: "pinned", message: prepare("t1", [pinned]) },
      { name: "exclusive", message: prepare("t1", [withdraw("a", 1)]), options: { lockMode: "exclusive" } },
      { name: "attempt", message: prepare("t1", [withdraw("a", 1)], { attempt: 1 }) },
      { name: "late", message: prepare("t1", [withdraw("a", 1)], { deadline: T0 }) },
      { name: "service", message: prepare("t1", [withdraw("a", 1)]), options: { service: async () => {} } },
    ];
    for (const { name, message, options } of cases) {
      const { store, calls } = await world();
      await processOver(store, options).handle(message);
      expect({ name, first: calls[0] }).toEqual({ name, first: "loadForPrepare" });
    }
  });
});

describe("a decision after a PREPARE in the same process writes without reading its barrier", () => {
  it("commits from the remembered barrier: no read at all for the whole transaction", async () => {
    const { store, calls, account } = await world();
    const p = processOver(store);
    await p.handle(prepare("t1", [withdraw("a", 30), deposit("b", 7)]));
    await p.handle(decision("commit", "t1"));
    expect(calls).toEqual(["prepare", "commit"]);
    expect(p.told().at(-1)).toEqual({ type: "ack", txId: "t1", participant: P, decision: "commit" });
    expect((await account("a"))?.state).toEqual({ balance: 70 });
    expect((await account("b"))?.state).toEqual({ balance: 12 });
  });

  it("rolls back from the remembered barrier, exclusive locks included", async () => {
    const { store, calls, account } = await world();
    const p = processOver(store, { lockMode: "exclusive" });
    await p.handle(prepare("t1", [withdraw("a", 30)]));
    await p.handle(decision("rollback", "t1"));
    expect(calls).toEqual(["loadForPrepare", "prepare", "rollback", "takeWaiters"]);
    expect(await account("a")).toEqual({ id: "a", version: 1, state: { balance: 100 } });
  });

  it("a process that did not prepare it reads the barrier, then commits", async () => {
    const { store, calls, account } = await world();
    await processOver(store).handle(prepare("t1", [withdraw("a", 30)]));
    const fresh = processOver(store);
    await fresh.handle(decision("commit", "t1"));
    expect(calls).toEqual(["prepare", "getBarrier", "commit"]);
    expect(fresh.told()).toEqual([{ type: "ack", txId: "t1", participant: P, decision: "commit" }]);
    expect((await account("a"))?.state).toEqual({ balance: 70 });
  });

  it("a copy settled elsewhere is refused by the store, dropped, and read at once: applied once", async () => {
    const { store, calls, account } = await world();
    const first = processOver(store);
    await first.handle(prepare("t1", [withdraw("a", 30)]));
    // Another process got the COMMIT first.
    await processOver(store).handle(decision("commit", "t1"));
    calls.length = 0;
    await first.handle(decision("commit", "t1"));
    expect(calls).toEqual(["commit!", "getBarrier"]);
    expect(first.pauses).toEqual([]);
    expect(first.told().at(-1)).toEqual({ type: "ack", txId: "t1", participant: P, decision: "commit" });
    expect(await account("a")).toEqual({ id: "a", version: 2, state: { balance: 70 } });
    // Dropped: a further copy reads.
    calls.length = 0;
    await first.handle(decision("commit", "t1"));
    expect(calls).toEqual(["getBarrier"]);
  });

  it("a decision that names no incarnation, or another attempt, is judged on the barrier as read", async () => {
    const { store, calls, account } = await world();
    const p = processOver(store);
    await p.handle(prepare("t1", [withdraw("a", 30)]));
    await p.handle(decision("rollback", "t1", { startedAt: undefined }));
    expect(calls).toEqual(["prepare", "getBarrier", "rollback"]);
    expect((await account("a"))?.holds).toBeUndefined();
    // A restarted transaction's second attempt, prepared (and remembered) here.
    await p.handle(prepare("t2", [withdraw("a", 30)], { attempt: 1 }));
    calls.length = 0;
    // A late ROLLBACK of its first attempt: never written from the copy, and it releases nothing.
    await p.handle(decision("rollback", "t2"));
    expect(calls).toEqual(["getBarrier"]);
    expect((await account("a"))?.holds).toEqual({ balance: { reserved: 30, pending: 0 } });
    calls.length = 0;
    await p.handle(decision("commit", "t2", { attempt: 1 }));
    expect(calls).toEqual(["commit"]);
    expect(await account("a")).toEqual({ id: "a", version: 2, state: { balance: 70 } });
  });
});

/**
 * The coordinator's side of a vote with its prepare, as a test decides it: the
 * part it takes (written as the record's write would write it: checked, then
 * applied) or none. Every offer is kept.
 */
function coordinatorTaking(take: "prepared" | "committed" | "none") {
  const offers: { vote: VoteMessage; own: OwnPrepare }[] = [];
  const voteWithPrepare = async (vote: VoteMessage, own: OwnPrepare) => {
    offers.push({ vote, own });
    if (take === "none") return;
    const build = take === "committed" ? own.commit : own.prepare;
    if (!build) return;
    const part = asMemory(build(T0));
    try {
      part.check();
    } catch {
      return; // refused: neither the record's write nor the part
    }
    part.apply();
    own.written(take, T0);
  };
  return { offers, voteWithPrepare };
}

const noOffer: OfferCommit = () => () => {};
/** A PREPARE of a 2-party transaction. */
const SMALL = { voters: 2 };

describe("a PREPARE whose yes vote is written with its prepare", () => {
  it("offers its prepare with its vote: taken, nothing is written apart and no vote is sent", async () => {
    const { store, calls, account } = await world();
    const c = coordinatorTaking("prepared");
    const p = processOver(store, { voteWithPrepare: c.voteWithPrepare });
    await p.handle(prepare("t1", [withdraw("a", 30), deposit("b", 7)], SMALL));
    expect(calls).toEqual(["prepareAlongside"]);
    expect(p.told()).toEqual([]);
    expect(c.offers.map((o) => [o.vote, o.own.participant, o.own.attempt, o.own.startedAt])).toEqual([
      [{ type: "vote", txId: "t1", participant: P, vote: "yes" }, P, 0, T0 - 10],
    ]);
    // Not committed at once where the last voter's commit does not go with its decision.
    expect(c.offers[0]?.own.commit).toBeUndefined();
    expect((await account("a"))?.holds).toEqual({ balance: { reserved: 30, pending: 0 } });
    // Its barrier is remembered: the COMMIT writes from it without reading.
    await p.handle(decision("commit", "t1"));
    expect(calls).toEqual(["prepareAlongside", "commit"]);
    expect((await account("a"))?.state).toEqual({ balance: 70 });
  });

  it("the deciding vote, its last voter's commit going with the decision: its branches applied at once", async () => {
    const { store, calls, account } = await world();
    const c = coordinatorTaking("committed");
    const p = processOver(store, { voteWithPrepare: c.voteWithPrepare, offerCommit: noOffer });
    await p.handle(prepare("t1", [withdraw("a", 30), deposit("b", 7)], SMALL));
    expect(calls).toEqual(["commitOnePhaseAlongside"]);
    expect(p.told()).toEqual([]);
    expect(await account("a")).toMatchObject({ state: { balance: 70 } });
    expect(await account("b")).toMatchObject({ state: { balance: 12 } });
    // A copy of the PREPARE meets the committed barrier and votes yes again; a COMMIT changes nothing.
    await p.handle(prepare("t1", [withdraw("a", 30), deposit("b", 7)], SMALL));
    await p.handle(decision("commit", "t1"));
    expect((await account("a"))?.state).toEqual({ balance: 70 });
  });

  it("not taken (decided, voted already, or its write failed): it prepares on its own and votes", async () => {
    const { store, calls } = await world();
    const c = coordinatorTaking("none");
    const p = processOver(store, { voteWithPrepare: c.voteWithPrepare });
    await p.handle(prepare("t1", [withdraw("a", 30)], SMALL));
    expect(c.offers).toHaveLength(1);
    expect(calls).toEqual(["prepare"]);
    expect(p.told()).toEqual([{ type: "vote", txId: "t1", participant: P, vote: "yes" }]);
  });

  it("a part refused (the funds are short): nothing written, it reads, plans and votes no", async () => {
    const { store, calls } = await world({ a: 10 });
    const c = coordinatorTaking("prepared");
    const p = processOver(store, { voteWithPrepare: c.voteWithPrepare });
    await p.handle(prepare("t1", [withdraw("a", 30)], SMALL));
    expect(calls).toEqual(["prepareAlongside", "prepare!", "loadForPrepare", "refuse"]);
    expect(p.told()).toMatchObject([{ type: "vote", vote: "no", reason: "insufficient_funds" }]);
  });

  it("offered only where the record, the barrier and its resources fit one transaction of 100 items", async () => {
    const ids = (n: number) => Array.from({ length: n }, (_, i) => `r${i}`);
    for (const [n, offered] of [
      [98, 1],
      [99, 0],
    ] as const) {
      const { store } = await world(Object.fromEntries(ids(n).map((id) => [id, 10])));
      const c = coordinatorTaking("prepared");
      const p = processOver(store, { voteWithPrepare: c.voteWithPrepare });
      await p.handle(
        prepare(
          `t${n}`,
          ids(n).map((id, i) => withdraw(id, 1, i)),
          SMALL,
        ),
      );
      expect({ n, offers: c.offers.length }).toEqual({ n, offers: offered });
    }
  });

  it("not offered in a transaction of more than four participants, nor where the PREPARE does not say", async () => {
    for (const extra of [{ voters: 5 }, {}]) {
      const { store, calls } = await world();
      const c = coordinatorTaking("prepared");
      const p = processOver(store, { voteWithPrepare: c.voteWithPrepare });
      await p.handle(prepare("t1", [withdraw("a", 30)], extra));
      expect(c.offers).toEqual([]);
      expect(calls).toEqual(["prepare"]);
      expect(p.told()).toEqual([{ type: "vote", txId: "t1", participant: P, vote: "yes" }]);
    }
  });
});
