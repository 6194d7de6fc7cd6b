/**
 * Wait-die's refinement: a PREPARE younger than the holder of the exclusive
 * lock it meets waits, instead of dying, when the holder's attempt is decided
 * to commit (it takes no other lock, so no wait-for cycle closes through it).
 */
import { describe, expect, it } from "vitest";
import type { LockPolicy } from "../../src/core/lock-policy.ts";
import type { CoordinatorMessage } from "../../src/core/messages.ts";
import { commitsAt, type TxRecord } from "../../src/core/transaction.ts";
import type { HolderCommits } from "../../src/participant-kit/kit-deps.ts";
import { createParticipant } from "../../src/participant-kit/participant.ts";
import { bankModel } from "../../src/participants/bank/bank-rules.ts";
import { silentLogger } from "../../testkit/logging.ts";
import { createMemoryParticipantStore } from "../../testkit/memory/memory-participant-store.ts";
import { recording } from "../helpers/buses.ts";
import { T0, withdrawal } from "../helpers/prepares.ts";

const P = "bank-1";
const OLD = T0 - 100;
const YOUNG = T0 - 10;

const prepare = (txId: string, startedAt: number) => withdrawal(P, txId, startedAt);

/** `holder` (older) holds account a's exclusive lock; then `young` asks for it under `policy`. */
async function meet(holderCommits: HolderCommits | undefined, policy: LockPolicy = "wait-die") {
  const store = createMemoryParticipantStore(bankModel);
  await store.putResource(P, "a", { balance: 100 });
  const asked: unknown[][] = [];
  const bus = recording();
  const participant = createParticipant({
    name: P,
    model: bankModel,
    store,
    bus,
    clock: () => T0,
    log: silentLogger(),
    lockPolicy: policy,
    lockMode: "exclusive",
    sleep: async () => {},
    ...(holderCommits
      ? {
          holderCommits: (...args: Parameters<HolderCommits>) => {
            asked.push(args);
            return holderCommits(...args);
          },
        }
      : {}),
  });
  await participant.handle(prepare("holder", OLD));
  bus.sent.length = 0;
  await participant.handle(prepare("young", YOUNG));
  const told = bus.sent.map((s) => s.message as CoordinatorMessage);
  const barrier = await store.getBarrier(P, "young");
  const lock = await store.getResource(P, "a");
  return { told, barrier, lock, asked };
}

describe("under wait-die, a younger PREPARE that meets a lock", () => {
  it("waits for a holder decided to commit: reports waiting, registers to be woken, writes no barrier", async () => {
    const { told, barrier, lock, asked } = await meet(async () => true);
    expect(asked).toEqual([["holder", OLD, 0]]);
    expect(told).toEqual([{ type: "waiting", txId: "young", participant: P, holder: "holder" }]);
    expect(barrier).toBeUndefined();
    expect(lock?.lockedBy).toBe("holder");
  });

  it("dies for a holder not decided, restarted later, as wait-die says", async () => {
    const { told, barrier, asked } = await meet(async () => false);
    expect(asked).toEqual([["holder", OLD, 0]]);
    expect(told).toEqual([
      expect.objectContaining({
        type: "vote",
        txId: "young",
        vote: "no",
        reason: "lock_conflict",
        restart: true,
      }),
    ]);
    expect(barrier?.state).toBe("refused");
  });

  it("dies when the look fails: nothing is assumed", async () => {
    const { told, asked } = await meet(async () => {
      throw new Error("throttled");
    });
    expect(asked).toEqual([["holder", OLD, 0]]);
    expect(told).toEqual([expect.objectContaining({ type: "vote", vote: "no", restart: true })]);
  });

  it("dies without the look under no-wait, and never asks when the policy already waits (detect)", async () => {
    const noWait = await meet(async () => true, "no-wait");
    expect(noWait.asked).toEqual([]);
    expect(noWait.told).toEqual([expect.objectContaining({ type: "vote", vote: "no" })]);
    const detect = await meet(async () => true, "detect");
    expect(detect.asked).toEqual([]);
    expect(detect.told).toEqual([expect.objectContaining({ type: "waiting" })]);
  });
});

describe("commitsAt", () => {
  const record = (over: Partial<TxRecord>) =>
    ({ protocol: "2pc", createdAt: OLD, state: "committing", ...over }) as TxRecord;
  it("is true only for that incarnation and attempt, decided to commit", () => {
    expect(commitsAt(record({}), OLD, 0)).toBe(true);
    expect(commitsAt(record({ state: "committed" }), OLD, 0)).toBe(true);
    expect(commitsAt(record({ state: "preparing" }), OLD, 0)).toBe(false);
    expect(commitsAt(record({ state: "aborting" }), OLD, 0)).toBe(false);
    expect(commitsAt(record({ createdAt: OLD + 1 }), OLD, 0)).toBe(false);
    expect(commitsAt(record({ attempt: 1 } as Partial<TxRecord>), OLD, 0)).toBe(false);
    expect(commitsAt(record({ protocol: "saga", state: "committing" } as Partial<TxRecord>), OLD, 0)).toBe(
      false,
    );
  });
});
