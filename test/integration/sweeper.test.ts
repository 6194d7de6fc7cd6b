import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dropping } from "../helpers/buses.ts";
import { bankState } from "../helpers/invariants.ts";
import { eventually, type Stack, startStack } from "../helpers/stack.ts";

let stack: Stack;
beforeAll(async () => {
  // bank-2 never receives a PREPARE: not the first, not the sweeper's re-sends.
  stack = await startStack({
    wrapBus: (bus) => dropping(bus, (s) => s.to === "bank-2" && s.message.type === "prepare"),
    env: { CONCORD_PREPARE_RETRY_MS: "300" },
  });
});
afterAll(() => stack?.stop());

describe("a PREPARE that is never delivered", () => {
  it("ends aborted at the deadline through the sweeper, and the other participant is released", async () => {
    await stack.seed("bank-1", "s1", 100);
    await stack.seed("bank-2", "s2", 0);
    const res = await stack.request("POST", "/v1/transactions", {
      protocol: "2pc",
      timeoutMs: 2_000,
      branches: [
        { participant: "bank-1", action: "withdraw", input: { account: "s1", amount: 60 } },
        { participant: "bank-2", action: "deposit", input: { account: "s2", amount: 60 } },
      ],
    });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    // bank-1 voted yes and holds its reservation while bank-2 stays silent.
    await eventually(async () => ((await stack.account("bank-1", "s1")).reserved > 0 ? true : undefined));
    const view = await eventually(async () => {
      const v = (await (await stack.request("GET", `/v1/transactions/${id}`)).json()) as {
        phase: string;
        reason?: string;
        events: { type: string }[];
        branches: { state: string }[];
      };
      return v.phase === "aborted" ? v : undefined;
    }, 10_000);
    expect(view.reason).toBe("timeout");
    expect(view.events.map((e) => e.type)).toContain("prepare_resent");
    expect(view.branches.map((b) => b.state)).toEqual(["rolled_back", "rolled_back"]);
    expect(await stack.account("bank-1", "s1")).toMatchObject({ balance: 100, reserved: 0, pending: 0 });
    expect((await stack.account("bank-1", "s1")).lockedBy).toBeUndefined();
    expect(await bankState(stack)).toMatchObject({ locked: [], held: [], prepared: [] });
  });
});
