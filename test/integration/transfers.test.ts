import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, type Stack, startStack } from "../helpers/stack.ts";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack?.stop());

const op = (server_id: string, account_id: string, operation: string, amount: number, to?: string) => ({
  server_id,
  account_id,
  operation,
  amount,
  ...(to ? { to_account_id: to } : {}),
});

describe("transfers", () => {
  it("a cross-server transfer commits and both balances change", async () => {
    await stack.seed("bank-1", "x1", 1_000);
    await stack.seed("bank-2", "y1", 50);
    const view = await stack.transfer([
      op("bank-1", "x1", "withdraw", 300),
      op("bank-2", "y1", "deposit", 300),
    ]);
    expect(view.status).toBe("committed");
    expect(view.branches.map((b) => b.vote)).toEqual(["yes", "yes"]);
    await stack.settle(view.id);
    expect(await stack.account("bank-1", "x1")).toMatchObject({ balance: 700, version: 2 });
    expect(await stack.account("bank-2", "y1")).toMatchObject({ balance: 350, version: 2 });
    const done = await eventually(async () => {
      const res = await stack.request("GET", `/v1/transactions/${view.id}`);
      const body = (await res.json()) as { phase: string; completedAt?: string; events: { type: string }[] };
      return body.phase === "committed" ? body : undefined;
    });
    expect(done.completedAt).toBeDefined();
    expect(done.events.map((e) => e.type)).toEqual(
      expect.arrayContaining([
        "created",
        "prepare_sent",
        "vote",
        "decision",
        "decision_sent",
        "ack",
        "completed",
      ]),
    );
  });

  it("insufficient funds aborts with the reason and changes nothing", async () => {
    await stack.seed("bank-1", "x2", 100);
    await stack.seed("bank-2", "y2", 0);
    const view = await stack.transfer([
      op("bank-1", "x2", "withdraw", 101),
      op("bank-2", "y2", "deposit", 101),
    ]);
    expect(view.status).toBe("aborted");
    expect(view.reason).toBe("insufficient_funds");
    expect(view.branches[0]).toMatchObject({ vote: "no", reason: "insufficient_funds", state: "refused" });
    await stack.settle(view.id);
    expect(await stack.account("bank-1", "x2")).toMatchObject({ balance: 100, version: 1 });
    expect(await stack.account("bank-2", "y2")).toMatchObject({ balance: 0, version: 1 });
  });

  it("an unknown account aborts with unknown_account", async () => {
    await stack.seed("bank-1", "x3", 100);
    const view = await stack.transfer([
      op("bank-1", "x3", "withdraw", 10),
      op("bank-2", "nobody", "deposit", 10),
    ]);
    expect(view).toMatchObject({ status: "aborted", reason: "unknown_account" });
    await stack.settle(view.id);
    expect((await stack.account("bank-1", "x3")).balance).toBe(100);
  });

  it("a 3-server, 5-operation transaction commits atomically", async () => {
    await stack.seed("bank-1", "a", 500);
    await stack.seed("bank-1", "b", 0);
    await stack.seed("bank-2", "c", 200);
    await stack.seed("bank-3", "d", 0);
    const view = await stack.transfer([
      op("bank-1", "a", "transfer", 200, "b"),
      op("bank-1", "a", "withdraw", 100),
      op("bank-2", "c", "withdraw", 150),
      op("bank-3", "d", "deposit", 250),
      op("bank-2", "c", "deposit", 0 + 1),
    ]);
    expect(view.status).toBe("committed");
    await stack.settle(view.id);
    const balances = await Promise.all(
      [
        ["bank-1", "a"],
        ["bank-1", "b"],
        ["bank-2", "c"],
        ["bank-3", "d"],
      ].map(([s, a]) => stack.account(s as string, a as string)),
    );
    expect(balances.map((b) => b.balance)).toEqual([200, 200, 51, 250]);
    expect(balances.every((b) => b.lockedBy === undefined)).toBe(true);
  });

  it("one failing operation among five applies none of them", async () => {
    await stack.seed("bank-1", "e", 500);
    await stack.seed("bank-2", "f", 10);
    await stack.seed("bank-3", "g", 0);
    const view = await stack.transfer([
      op("bank-1", "e", "withdraw", 100),
      op("bank-3", "g", "deposit", 100),
      op("bank-2", "f", "deposit", 5),
      op("bank-2", "f", "withdraw", 16),
      op("bank-1", "e", "deposit", 1),
    ]);
    expect(view).toMatchObject({ status: "aborted", reason: "insufficient_funds" });
    expect(view.branches[3]).toMatchObject({ reason: "insufficient_funds" });
    await stack.settle(view.id);
    expect((await stack.account("bank-1", "e")).balance).toBe(500);
    expect((await stack.account("bank-2", "f")).balance).toBe(10);
    expect((await stack.account("bank-3", "g")).balance).toBe(0);
  });

  it("a repeated Idempotency-Key returns the same transaction and applies it once", async () => {
    await stack.seed("bank-1", "i1", 100);
    await stack.seed("bank-2", "i2", 0);
    const ops = [op("bank-1", "i1", "withdraw", 10), op("bank-2", "i2", "deposit", 10)];
    const key = { "Idempotency-Key": "idem-key-1" };
    const results = await Promise.all(
      [1, 2, 3, 4].map(() => stack.request("POST", "/v1/transfers?wait=5000", ops, key)),
    );
    const views = (await Promise.all(results.map((r) => r.json()))) as { id: string; status: string }[];
    expect(new Set(views.map((v) => v.id))).toEqual(new Set(["idem-key-1"]));
    expect(results.filter((r) => r.headers.get("idempotent-replayed") === "true")).toHaveLength(3);
    const again = await stack.transfer(ops, 5000, key);
    expect(again).toMatchObject({ id: "idem-key-1", status: "committed" });
    await stack.settle("idem-key-1");
    await new Promise((r) => setTimeout(r, 500));
    expect((await stack.account("bank-1", "i1")).balance).toBe(90);
    expect((await stack.account("bank-2", "i2")).balance).toBe(10);
  });

  it("a reused key with a different request is a 409 and runs nothing", async () => {
    await stack.seed("bank-1", "k1", 100);
    await stack.seed("bank-2", "k2", 0);
    const key = { "Idempotency-Key": "idem-key-2" };
    await stack.transfer([op("bank-1", "k1", "withdraw", 10), op("bank-2", "k2", "deposit", 10)], 5000, key);
    await stack.settle("idem-key-2");
    const res = await stack.request(
      "POST",
      "/v1/transfers",
      [op("bank-1", "k1", "withdraw", 50), op("bank-2", "k2", "deposit", 50)],
      key,
    );
    expect(res.status).toBe(409);
    expect(await res.json()).toMatchObject({ error: { code: "idempotency_conflict" } });
    expect((await stack.account("bank-1", "k1")).balance).toBe(90);
  });

  it("the generic endpoint runs a 2pc transaction with a client id", async () => {
    await stack.seed("bank-1", "g1", 40);
    await stack.seed("bank-2", "g2", 0);
    const res = await stack.request("POST", "/v1/transactions?wait=5000", {
      id: "generic-1",
      protocol: "2pc",
      timeoutMs: 20_000,
      branches: [
        { participant: "bank-1", action: "withdraw", input: { account: "g1", amount: 40 } },
        { participant: "bank-2", action: "deposit", input: { account: "g2", amount: 40 } },
      ],
    });
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ id: "generic-1", protocol: "2pc", status: "committed" });
  });

  it("answers 202 with a pending view when the outcome is not known within wait", async () => {
    await stack.seed("bank-1", "w1", 10);
    await stack.seed("bank-2", "w2", 0);
    const res = await stack.request("POST", "/v1/transfers", [
      op("bank-1", "w1", "withdraw", 1),
      op("bank-2", "w2", "deposit", 1),
    ]);
    expect(res.status).toBe(202);
    const view = (await res.json()) as { id: string; status: string };
    expect(view.status).toBe("pending");
    const final = await eventually(async () => {
      const v = (await (await stack.request("GET", `/v1/transactions/${view.id}`)).json()) as {
        status: string;
      };
      return v.status === "pending" ? undefined : v;
    });
    expect(final.status).toBe("committed");
  });
});
