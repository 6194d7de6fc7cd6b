/**
 * The worked example of docs/participants.md, run: a "loyalty points"
 * participant a team writes against its own table. If this file changes, the
 * document changes with it.
 */
import { describe, expect, it } from "vitest";
import * as z from "zod";
import { createParticipant } from "../../src/participant-kit/participant.ts";
import { planGroup } from "../../src/participant-kit/planning.ts";
import { accept, defineModel, refuse, resourceId } from "../../src/participant-kit/resource-model.ts";
import { silentLogger } from "../../testkit/logging.ts";
import { createMemoryParticipantStore } from "../../testkit/memory/memory-participant-store.ts";
import { recording } from "../helpers/buses.ts";

// --- the model (docs/participants.md, step 1) ---
const memberState = z.object({ points: z.number().int().nonnegative() });
const points = z.strictObject({ member: resourceId("member"), points: z.number().int().positive() });

const loyaltyModel = defineModel({
  kind: "member",
  state: memberState,
  actions: (action) => ({
    earn: action({
      input: points,
      touches: (i) => [i.member],
      apply(i, members) {
        const { state } = members.get(i.member);
        // A member who earns for the first time is created.
        return accept({ id: i.member, state: { points: (state?.points ?? 0) + i.points } });
      },
    }),
    redeem: action({
      input: points,
      touches: (i) => [i.member],
      apply(i, members) {
        const { state } = members.get(i.member);
        if (!state) return refuse("unknown_member");
        if (state.points < i.points) return refuse("not_enough_points");
        return accept({ id: i.member, state: { points: state.points - i.points } });
      },
    }),
  }),
});

// --- step 4: testing it ---
describe("the loyalty example", () => {
  it("plans purely: redeem more than earned refuses, earn creates the member", () => {
    const branch = (action: string, n: number) => ({ index: 0, action, input: { member: "m1", points: n } });
    expect(planGroup(loyaltyModel, [branch("redeem", 5)], new Map(), undefined)).toEqual({
      vote: "no",
      reason: "unknown_member",
      failedBranch: 0,
    });
    expect(planGroup(loyaltyModel, [branch("earn", 5)], new Map(), undefined)).toEqual({
      vote: "yes",
      planned: [{ id: "m1", version: 0, next: { points: 5 } }],
    });
  });

  it("runs 2PC and saga steps through the kit, on the in-memory store", async () => {
    const store = createMemoryParticipantStore(loyaltyModel);
    const bus = recording();
    const loyalty = createParticipant({
      name: "loyalty",
      model: loyaltyModel,
      store,
      bus,
      clock: Date.now,
      log: silentLogger(),
      lockPolicy: "wait-die",
    });
    const now = Date.now();
    await loyalty.handle({
      type: "prepare",
      txId: "t1",
      participant: "loyalty",
      deadline: now + 60_000,
      startedAt: now,
      branches: [{ index: 0, action: "earn", input: { member: "m1", points: 100 } }],
    });
    await loyalty.handle({ type: "commit", txId: "t1", participant: "loyalty" });
    const saga = { txId: "t2", participant: "loyalty", branch: 1, startedAt: now } as const;
    const input = { member: "m1", points: 30 };
    await loyalty.handle({ ...saga, type: "action", action: "redeem", input, deadline: now + 60_000 });
    await loyalty.handle({ ...saga, type: "compensate", action: "earn", input });
    await loyalty.handle({ ...saga, type: "compensate", action: "earn", input });
    expect(bus.sent.map((s) => s.message)).toEqual([
      { type: "vote", txId: "t1", participant: "loyalty", vote: "yes" },
      { type: "ack", txId: "t1", participant: "loyalty", decision: "commit" },
      { type: "result", txId: "t2", participant: "loyalty", branch: 1, step: "action", outcome: "done" },
      {
        type: "result",
        txId: "t2",
        participant: "loyalty",
        branch: 1,
        step: "compensation",
        outcome: "done",
      },
      {
        type: "result",
        txId: "t2",
        participant: "loyalty",
        branch: 1,
        step: "compensation",
        outcome: "done",
      },
    ]);
    expect(await store.getResource("loyalty", "m1")).toEqual({
      id: "m1",
      version: 3,
      state: { points: 100 },
    });
  });
});
