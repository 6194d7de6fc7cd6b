/**
 * Issue 3, operators' endpoints: abort (409 once decided), retry (re-deliver now,
 * reset the backoff), and the paged listing of transactions by status.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ConcordClient, ListQuery, TransactionPage } from "../../packages/client/src/index.ts";
import { dropping } from "../helpers/buses.ts";
import { bankState } from "../helpers/invariants.ts";
import { eventually, type Stack, startStack } from "../helpers/stack.ts";

/** Messages the tests lose on purpose: PREPAREs by `txId@participant`, decisions by txId. */
function faultyStack(env: Record<string, string> = {}) {
  const faults = { dropPrepare: new Set<string>(), holdDecisions: new Set<string>() };
  const started = startStack({
    env,
    wrapBus: (bus) =>
      dropping(bus, ({ to, message }) => {
        if (message.type === "prepare") return faults.dropPrepare.has(`${message.txId}@${to}`);
        if (message.type === "commit" || message.type === "rollback")
          return faults.holdDecisions.has(message.txId);
        return false;
      }),
  });
  return { faults, started };
}

/** bank-1 withdraws from `<id>-a` (seeded with 100), bank-2 deposits to `<id>-b`. */
async function begin(client: ConcordClient, id: string, wait = 0) {
  await client.putAccount("bank-1", `${id}-a`, 100);
  await client.putAccount("bank-2", `${id}-b`, 0);
  return client.begin(
    {
      id,
      protocol: "2pc",
      timeoutMs: 60_000,
      branches: [
        { participant: "bank-1", action: "withdraw", input: { account: `${id}-a`, amount: 40 } },
        { participant: "bank-2", action: "deposit", input: { account: `${id}-b`, amount: 40 } },
      ],
    },
    { wait },
  );
}

/**
 * bank-1 has voted yes and holds its withdrawal: a reservation on the transaction's own
 * account (or its lock, under exclusive locks). The transaction is stuck undecided.
 */
const lockedBy = (stack: Stack, id: string) =>
  eventually(
    async () => {
      const a = await stack.account("bank-1", `${id}-a`);
      if (!(a.reserved > 0 || a.lockedBy === id)) return undefined;
      // Held is not yet voted: the vote reaches the record a write later.
      const view = await stack.client.get(id);
      return view.branches[0]?.vote === "yes" ? true : undefined;
    },
    10_000,
    `bank-1 to hold ${id}'s withdrawal and its yes to be recorded`,
  );

async function expectError(res: Response, status: number, code: string) {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  const body = JSON.parse(text) as { error: { code: string; message: string; details?: unknown } };
  expect(body.error).toMatchObject({ code, message: expect.any(String) });
  return body.error;
}

describe("admin endpoints (auth off)", () => {
  let stack: Stack;
  let faults: ReturnType<typeof faultyStack>["faults"];
  beforeAll(async () => {
    const s = faultyStack();
    faults = s.faults;
    stack = await s.started;
  });
  afterAll(() => stack?.stop());

  describe("POST /v1/transactions/:id/abort", () => {
    it("aborts an undecided transaction: rolled back everywhere, locks released", async () => {
      faults.dropPrepare.add("ab-1@bank-2");
      expect((await begin(stack.client, "ab-1")).status).toBe("pending");
      await lockedBy(stack, "ab-1");

      const aborted = await stack.client.abort("ab-1");
      expect(aborted).toMatchObject({ id: "ab-1", status: "aborted", reason: "aborted_by_operator" });
      expect(aborted.events.map((e) => e.type)).toContain("abort_requested");

      const final = await stack.settle("ab-1");
      expect(final).toMatchObject({ phase: "aborted", reason: "aborted_by_operator" });
      expect(final.branches.map((b) => b.state)).toEqual(["rolled_back", "rolled_back"]);
      const account = await stack.account("bank-1", "ab-1-a");
      expect(account).toMatchObject({ balance: 100, reserved: 0, pending: 0, version: 1 });
      expect(account.lockedBy).toBeUndefined();
      expect((await stack.account("bank-2", "ab-1-b")).balance).toBe(0);
      const bank = await bankState(stack);
      expect(bank.locked.filter((l) => l.includes("ab-1"))).toEqual([]);
      expect(bank.prepared.filter((p) => p.includes("ab-1"))).toEqual([]);

      // Aborted already: a second abort is a conflict, not a second decision.
      const again = await expectError(
        await stack.request("POST", "/v1/transactions/ab-1/abort"),
        409,
        "conflict",
      );
      expect(again.details).toEqual({ phase: "aborted", status: "aborted" });
    });

    it("refuses a committed transaction with 409 and the phase; the commit goes on", async () => {
      const committed = await begin(stack.client, "ab-2", 10_000);
      expect(committed.status).toBe("committed");
      const error = await expectError(
        await stack.request("POST", "/v1/transactions/ab-2/abort"),
        409,
        "conflict",
      );
      expect(error.details).toEqual({ phase: expect.stringMatching(/^committ/), status: "committed" });
      expect(await stack.settle("ab-2")).toMatchObject({ phase: "committed" });
      expect((await stack.account("bank-1", "ab-2-a")).balance).toBe(60);
      expect((await stack.account("bank-2", "ab-2-b")).balance).toBe(40);
    });

    it.each(["no-such-tx", "bad%20id", "x".repeat(129)])(
      "404 for an unknown transaction (%s)",
      async (id) => {
        await expectError(await stack.request("POST", `/v1/transactions/${id}/abort`), 404, "not_found");
      },
    );
  });

  describe("POST /v1/transactions/:id/retry", () => {
    it("re-delivers a stuck decision now, resets attempts, and the transaction completes", async () => {
      faults.holdDecisions.add("rt-1");
      expect((await begin(stack.client, "rt-1", 10_000)).status).toBe("committed");
      // The sweeper keeps re-sending COMMIT, and it keeps getting lost.
      const stuck = await eventually(async () => {
        const v = await stack.client.get("rt-1");
        return v.attempts >= 1 ? v : undefined;
      }, 10_000);
      expect(stuck.phase).toBe("committing");
      // The last voter committed with the decision; the other waits for its COMMIT.
      const owing = stuck.branches.filter((b) => b.state === "committing").map((b) => b.participant);
      expect(owing).toHaveLength(1);

      faults.holdDecisions.delete("rt-1");
      const retried = await stack.client.retry("rt-1");
      expect(retried).toMatchObject({ id: "rt-1", phase: "committing", attempts: 0 });
      expect(retried.events.at(-1)).toMatchObject({
        type: "retry_requested",
        decision: "commit",
        participants: owing,
      });

      const final = await stack.settle("rt-1");
      expect(final.completedAt).toBeDefined();
      // The retry delivered it: no sweeper re-send between the retry and completion.
      const after = final.events.slice(final.events.findIndex((e) => e.type === "retry_requested"));
      expect(after.map((e) => e.type).filter((t) => t !== "ack")).toEqual(["retry_requested", "completed"]);
      expect((await stack.account("bank-1", "rt-1-a")).balance).toBe(60);
      expect((await stack.account("bank-2", "rt-1-b")).balance).toBe(40);

      // Final now: nothing left to deliver.
      const error = await expectError(
        await stack.request("POST", "/v1/transactions/rt-1/retry"),
        409,
        "conflict",
      );
      expect(error.details).toEqual({ phase: "committed", status: "committed" });
    });

    it("re-sends PREPARE to a silent participant, and the transaction commits", async () => {
      faults.dropPrepare.add("rt-2@bank-2");
      await begin(stack.client, "rt-2");
      await lockedBy(stack, "rt-2");
      faults.dropPrepare.delete("rt-2@bank-2");

      const retried = await stack.client.retry("rt-2");
      expect(retried).toMatchObject({ phase: "preparing", attempts: 0 });
      expect(retried.events.at(-1)).toMatchObject({ type: "retry_requested", participants: ["bank-2"] });
      expect(await stack.settle("rt-2")).toMatchObject({ phase: "committed" });
    });

    it("409 for an aborted transaction, 404 for an unknown one", async () => {
      await stack.seed("bank-1", "rt-3-a", 5);
      const refused = await stack.transfer([
        { server_id: "bank-1", account_id: "rt-3-a", operation: "withdraw", amount: 10 },
      ]);
      expect(refused.status).toBe("aborted");
      await stack.settle(refused.id);
      const error = await expectError(
        await stack.request("POST", `/v1/transactions/${refused.id}/retry`),
        409,
        "conflict",
      );
      expect(error.details).toEqual({ phase: "aborted", status: "aborted" });
      await expectError(await stack.request("POST", "/v1/transactions/nope/retry"), 404, "not_found");
    });
  });

  describe("GET /v1/transactions", () => {
    const ids = Array.from({ length: 23 }, (_, i) => `ls-${String(i).padStart(2, "0")}`);

    beforeAll(async () => {
      await Promise.all(ids.map((id) => begin(stack.client, id, 10_000)));
      faults.dropPrepare.add("ls-pending@bank-2");
      await begin(stack.client, "ls-pending");
    });

    async function walk(query: ListQuery) {
      const pages: TransactionPage[] = [];
      for await (const page of stack.client.list(query)) {
        pages.push(page);
        expect(pages.length).toBeLessThan(100);
      }
      return pages;
    }

    /** What the table holds, by client-facing status. */
    async function stored(): Promise<Map<string, string>> {
      const status = (state: unknown) =>
        state === "preparing" ? "pending" : String(state).startsWith("committ") ? "committed" : "aborted";
      return new Map((await stack.scan("transactions")).map((i) => [String(i.id), status(i.state)]));
    }

    it("by status: pages of `limit`, newest first, every transaction of that status exactly once", async () => {
      const pages = await walk({ status: "committed", limit: 5 });
      const views = pages.flatMap((p) => p.transactions);
      const seen = views.map((v) => v.id);
      expect(new Set(seen).size).toBe(seen.length);
      const expected = [...(await stored())].filter(([, s]) => s === "committed").map(([id]) => id);
      expect(expected.length).toBeGreaterThan(25);
      expect(new Set(seen)).toEqual(new Set(expected));
      expect(views.every((v) => v.status === "committed")).toBe(true);
      const created = views.map((v) => v.createdAt);
      expect(created).toEqual([...created].sort().reverse());
      for (const page of pages.slice(0, -1)) expect(page.transactions).toHaveLength(5);
      expect(pages.at(-1)?.transactions.length).toBeGreaterThan(0);
      expect(pages.at(-1)?.nextCursor).toBeUndefined();
    });

    it("pending and aborted list only their own", async () => {
      const pending = (await walk({ status: "pending", limit: 100 })).flatMap((p) => p.transactions);
      expect(pending.map((v) => v.id)).toContain("ls-pending");
      expect(pending.every((v) => v.status === "pending")).toBe(true);
      const aborted = (await walk({ status: "aborted", limit: 2 })).flatMap((p) => p.transactions);
      expect(aborted.map((v) => v.id)).toContain("ab-1");
      expect(aborted.every((v) => v.status === "aborted")).toBe(true);
      expect(aborted.map((v) => v.id)).not.toContain("ls-pending");
    });

    it("without a status: every transaction exactly once; 20 per page by default", async () => {
      const pages = await walk({ limit: 7 });
      const seen = pages.flatMap((p) => p.transactions.map((v) => v.id));
      expect(new Set(seen).size).toBe(seen.length);
      expect(new Set(seen)).toEqual(new Set((await stored()).keys()));

      const first = await stack.client.page();
      expect(first.transactions).toHaveLength(20);
      expect(first.nextCursor).toEqual(expect.any(String));
      const byStatus = await stack.client.page({ status: "committed" });
      expect(byStatus.transactions).toHaveLength(20);
    });

    it.each([
      "status=foo",
      "status=",
      "status=PENDING",
      "status=committing",
      "status=pending&status=aborted",
      "limit=0",
      "limit=101",
      "limit=abc",
      "limit=1.5",
      "limit=-1",
      "limit=1e1",
      "limit=",
      "limit=%2010",
      "cursor=",
      "cursor=not-a-cursor",
      "cursor=%25%25%25",
      `cursor=${Buffer.from('{"v":1,"by":"id","after":{"S":"x"}}').toString("base64url")}`,
      `status=pending&cursor=${Buffer.from('{"v":1,"by":"status","status":"pending","shards":[{"at":1,"id":"x","pk":"y"}]}').toString("base64url")}`,
    ])("400 for %s, and nothing else happens", async (query) => {
      const error = await expectError(
        await stack.request("GET", `/v1/transactions?${query}`),
        400,
        "invalid_request",
      );
      expect(error.message).toMatch(/status|limit|cursor/);
    });

    it("400 for a cursor used in another listing than the one that made it", async () => {
      const page = await stack.client.page({ status: "committed", limit: 2 });
      const cursor = encodeURIComponent(page.nextCursor ?? "");
      for (const query of [`status=aborted&cursor=${cursor}`, `cursor=${cursor}`]) {
        await expectError(await stack.request("GET", `/v1/transactions?${query}`), 400, "invalid_request");
      }
      const unfiltered = await stack.client.page({ limit: 2 });
      await expectError(
        await stack.request(
          "GET",
          `/v1/transactions?status=committed&cursor=${encodeURIComponent(unfiltered.nextCursor ?? "")}`,
        ),
        400,
        "invalid_request",
      );
      // A cursor stays usable with another page size.
      const more = await stack.client.page({ status: "committed", limit: 3, cursor: page.nextCursor ?? "" });
      expect(more.transactions.length).toBeGreaterThan(0);
    });
  });
});

describe("admin endpoints with API keys", () => {
  const CLIENT = { authorization: "Bearer client-key-1" };
  const ADMIN = { authorization: "Bearer admin-key-1" };
  let admin: ConcordClient;
  let client: ConcordClient;
  let stack: Stack;
  let faults: ReturnType<typeof faultyStack>["faults"];
  beforeAll(async () => {
    const s = faultyStack({ CONCORD_API_KEYS: "client-key-1", CONCORD_ADMIN_KEYS: "admin-key-1" });
    faults = s.faults;
    stack = await s.started;
    admin = stack.clientWithKey("admin-key-1");
    client = stack.clientWithKey("client-key-1");
  });
  afterAll(() => stack?.stop());

  it("a client key gets 403 on abort and retry and changes nothing; it may list", async () => {
    faults.dropPrepare.add("kb-1@bank-2");
    await begin(admin, "kb-1");
    await eventually(async () =>
      (await admin.getAccount("bank-1", "kb-1-a")).reserved > 0 ? true : undefined,
    );

    for (const action of ["abort", "retry"]) {
      await expectError(
        await stack.request("POST", `/v1/transactions/kb-1/${action}`, undefined, CLIENT),
        403,
        "forbidden",
      );
      await expectError(
        await stack.request("POST", `/v1/transactions/unknown/${action}`, undefined, CLIENT),
        403,
        "forbidden",
      );
    }
    const after = await client.get("kb-1");
    expect(after.phase).toBe("preparing");
    expect(after.events.map((e) => e.type)).not.toContain("abort_requested");
    expect(after.events.map((e) => e.type)).not.toContain("retry_requested");

    const list = await client.page({ status: "pending" });
    expect(list.transactions.map((v) => v.id)).toEqual(["kb-1"]);

    expect(await admin.abort("kb-1")).toMatchObject({ status: "aborted", reason: "aborted_by_operator" });
    await expectError(
      await stack.request("POST", "/v1/transactions/unknown/retry", undefined, ADMIN),
      404,
      "not_found",
    );
  });
});
