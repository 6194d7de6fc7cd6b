/**
 * Design §3, auth: Bearer API keys. With keys configured every /v1 route needs a
 * client or admin key (401 without, 403 with the wrong role); with none, auth is off.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TransactionView } from "../../src/core/view.ts";
import { eventually, type Stack, startStack } from "../helpers/stack.ts";

const CLIENT = { authorization: "Bearer client-key-1" };
const CLIENT_2 = { authorization: "Bearer client-key-2" };
const ADMIN = { authorization: "Bearer admin-key-1" };

const transfer = (from: string, to: string, amount: number) => [
  { server_id: "bank-1", account_id: from, operation: "withdraw", amount },
  { server_id: "bank-2", account_id: to, operation: "deposit", amount },
];
const transaction = (from: string, to: string, amount: number) => ({
  protocol: "2pc",
  branches: [
    { participant: "bank-1", action: "withdraw", input: { account: from, amount } },
    { participant: "bank-2", action: "deposit", input: { account: to, amount } },
  ],
});

/** Every /v1 route of the contract, with a body that would be valid. */
const ROUTES: { method: string; path: string; body?: unknown }[] = [
  { method: "POST", path: "/v1/transfers?wait=1000", body: transfer("a1", "b1", 1) },
  { method: "POST", path: "/v1/transactions?wait=1000", body: transaction("a1", "b1", 1) },
  { method: "GET", path: "/v1/transactions/some-tx" },
  { method: "GET", path: "/v1/transactions?status=pending" },
  { method: "POST", path: "/v1/transactions/some-tx/abort" },
  { method: "POST", path: "/v1/transactions/some-tx/retry" },
  { method: "GET", path: "/v1/bank/bank-1/accounts/a1" },
  { method: "PUT", path: "/v1/bank/bank-1/accounts/a1", body: { balance: 1 } },
  { method: "PUT", path: "/v1/bank/bank-1/accounts/brand-new", body: { balance: 1 } },
  { method: "GET", path: "/v1/nothing" },
];

/** Waits until every participant has applied the transaction (its locks are released). */
async function completed(stack: Stack, id: string, headers: Record<string, string>) {
  await eventually(
    async () => {
      const res = await stack.request("GET", `/v1/transactions/${id}`, undefined, headers);
      const view = (await res.json()) as TransactionView;
      return view.completedAt !== undefined ? view : undefined;
    },
    15_000,
    `transaction ${id} completed`,
  );
}

async function expectError(res: Response, status: number, code: string) {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  const body = JSON.parse(text) as { error: { code: string; message: string } };
  expect(Object.keys(body)).toEqual(["error"]);
  expect(body.error).toMatchObject({ code, message: expect.any(String) });
  return body.error;
}

describe("with API keys configured", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      env: { CONCORD_API_KEYS: "client-key-1,client-key-2", CONCORD_ADMIN_KEYS: "admin-key-1" },
    });
    for (const [server, account, balance] of [
      ["bank-1", "a1", 1_000],
      ["bank-2", "b1", 0],
    ] as const) {
      const res = await stack.request("PUT", `/v1/bank/${server}/accounts/${account}`, { balance }, ADMIN);
      expect(res.status).toBe(200);
    }
  });
  afterAll(() => stack?.stop());

  const account = async (server: string, id: string) => {
    const res = await stack.request("GET", `/v1/bank/${server}/accounts/${id}`, undefined, ADMIN);
    expect(res.status).toBe(200);
    return (await res.json()) as { balance: number; version: number; lockedBy?: string };
  };

  it("GET /metrics needs the admin key: 401 without a key, 403 with a client key", async () => {
    expect((await stack.request("GET", "/metrics")).status).toBe(401);
    expect((await stack.request("GET", "/metrics", undefined, CLIENT)).status).toBe(403);
    const res = await stack.request("GET", "/metrics", undefined, ADMIN);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("# TYPE concord_transactions_begun_total counter");
  });

  it("GET /health needs no key", async () => {
    const res = await stack.request("GET", "/health");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ok" });
  });

  it.each(ROUTES)("$method $path without Authorization → 401 with WWW-Authenticate", async (route) => {
    const res = await stack.request(route.method, route.path, route.body);
    await expectError(res, 401, "unauthorized");
    expect(res.headers.get("www-authenticate")).toMatch(/^Bearer realm="concord"/);
  });

  it.each([
    "Bearer nope",
    "Bearer client-key-1x",
    "Bearer client-key",
    "Bearer CLIENT-KEY-1",
    "Bearer client-key-1,client-key-2",
    "Bearer client-key-1,admin-key-1",
  ])("a wrong key (%j) → 401 on every route", async (authorization) => {
    for (const route of ROUTES) {
      const res = await stack.request(route.method, route.path, route.body, { authorization });
      await expectError(res, 401, "unauthorized");
      expect(res.headers.get("www-authenticate")).toMatch(/^Bearer /);
    }
  });

  it.each([
    "Basic xyz",
    "Basic Y2xpZW50LWtleS0xOg==",
    "Bearer",
    "Bearer ",
    "client-key-1",
    "Token client-key-1",
    "Bearer client-key-1 admin-key-1",
    "",
  ])("a malformed Authorization header (%j) → 401", async (authorization) => {
    for (const route of ROUTES) {
      const res = await stack.request(route.method, route.path, route.body, { authorization });
      await expectError(res, 401, "unauthorized");
      expect(res.headers.get("www-authenticate")).toMatch(/^Bearer /);
    }
  });

  it("the rejected requests changed nothing", async () => {
    expect(await stack.scan("transactions")).toEqual([]);
    const accounts = (await stack.scan("bank")).map((i) => `${i.pk}`).sort();
    expect(accounts).toHaveLength(2);
    expect(await account("bank-1", "a1")).toEqual({
      server: "bank-1",
      account: "a1",
      balance: 1_000,
      reserved: 0,
      pending: 0,
      version: 1,
    });
    expect(await account("bank-2", "b1")).toEqual({
      server: "bank-2",
      account: "b1",
      balance: 0,
      reserved: 0,
      pending: 0,
      version: 1,
    });
  });

  it.each([
    ["a client key", CLIENT],
    ["the second client key", CLIENT_2],
  ])("%s on an admin route (PUT account) → 403 forbidden, and nothing changes", async (_, headers) => {
    await expectError(
      await stack.request("PUT", "/v1/bank/bank-1/accounts/a1", { balance: 5 }, headers),
      403,
      "forbidden",
    );
    await expectError(
      await stack.request("PUT", "/v1/bank/bank-1/accounts/new-by-client", { balance: 5 }, headers),
      403,
      "forbidden",
    );
    expect(await account("bank-1", "a1")).toMatchObject({ balance: 1_000, version: 1 });
    expect(await stack.scan("bank")).toHaveLength(2);
  });

  it("a client key can POST /v1/transfers, GET the transaction and GET an account", async () => {
    const res = await stack.request("POST", "/v1/transfers?wait=10000", transfer("a1", "b1", 100), CLIENT);
    expect(res.status).toBe(201);
    const view = (await res.json()) as TransactionView;
    expect(view.status).toBe("committed");

    const got = await stack.request("GET", `/v1/transactions/${view.id}`, undefined, CLIENT_2);
    expect(got.status).toBe(200);
    expect(await got.json()).toMatchObject({ id: view.id, status: "committed" });

    await completed(stack, view.id, CLIENT);
    const acct = await stack.request("GET", "/v1/bank/bank-1/accounts/a1", undefined, CLIENT);
    expect(acct.status).toBe(200);
    expect(await acct.json()).toMatchObject({ server: "bank-1", account: "a1", balance: 900 });
  });

  it("a client key can POST /v1/transactions; the Bearer scheme is case-insensitive", async () => {
    const res = await stack.request("POST", "/v1/transactions?wait=10000", transaction("a1", "b1", 1), {
      authorization: "bearer client-key-1",
    });
    expect(res.status).toBe(201);
    const view = (await res.json()) as TransactionView;
    expect(view.status).toBe("committed");
    await completed(stack, view.id, CLIENT);
  });

  it("a client key gets the same validation errors and 404s as anyone", async () => {
    await expectError(await stack.request("POST", "/v1/transfers", "{", CLIENT), 400, "invalid_json");
    await expectError(
      await stack.request("GET", "/v1/transactions/nope", undefined, CLIENT),
      404,
      "not_found",
    );
    await expectError(await stack.request("GET", "/v1/nothing", undefined, CLIENT), 404, "not_found");
  });

  it("the admin key can do everything", async () => {
    const put = await stack.request("PUT", "/v1/bank/bank-1/accounts/admin-made", { balance: 70 }, ADMIN);
    expect(put.status).toBe(200);
    expect(await put.json()).toEqual({
      server: "bank-1",
      account: "admin-made",
      balance: 70,
      reserved: 0,
      pending: 0,
      version: 1,
    });
    const put2 = await stack.request("PUT", "/v1/bank/bank-2/accounts/admin-made-2", { balance: 0 }, ADMIN);
    expect(put2.status).toBe(200);

    const res = await stack.request(
      "POST",
      "/v1/transfers?wait=10000",
      transfer("admin-made", "admin-made-2", 70),
      ADMIN,
    );
    expect(res.status).toBe(201);
    const view = (await res.json()) as TransactionView;
    expect(view.status).toBe("committed");

    const tx = await stack.request("POST", "/v1/transactions?wait=10000", transaction("a1", "b1", 1), ADMIN);
    expect(tx.status).toBe(201);
    expect(await tx.json()).toMatchObject({ status: "committed" });

    const got = await stack.request("GET", `/v1/transactions/${view.id}`, undefined, ADMIN);
    expect(got.status).toBe(200);
    await completed(stack, view.id, ADMIN);
    expect(await account("bank-1", "admin-made")).toMatchObject({ balance: 0 });
    expect(await account("bank-2", "admin-made-2")).toMatchObject({ balance: 70 });
  });
});

describe("with no keys configured (auth off)", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { CONCORD_API_KEYS: "", CONCORD_ADMIN_KEYS: "" } });
  });
  afterAll(() => stack?.stop());

  it.each([
    ["no Authorization header", {}],
    ["an unknown key", { authorization: "Bearer whatever" }],
    ["a malformed header", { authorization: "Basic xyz" }],
  ])("every route works with %s", async (_, headers: Record<string, string>) => {
    const suffix = Object.keys(headers).length === 0 ? "none" : headers.authorization?.split(" ")[0];
    const [from, to] = [`from-${suffix}`, `to-${suffix}`];

    const health = await stack.request("GET", "/health", undefined, headers);
    expect(health.status).toBe(200);

    for (const [server, id, balance] of [
      ["bank-1", from, 10],
      ["bank-2", to, 0],
    ] as const) {
      const put = await stack.request("PUT", `/v1/bank/${server}/accounts/${id}`, { balance }, headers);
      expect(put.status, await put.clone().text()).toBe(200);
    }

    const res = await stack.request("POST", "/v1/transfers?wait=10000", transfer(from, to, 4), headers);
    expect(res.status).toBe(201);
    const view = (await res.json()) as TransactionView;
    expect(view.status).toBe("committed");
    await completed(stack, view.id, headers);

    const tx = await stack.request("POST", "/v1/transactions?wait=10000", transaction(from, to, 1), headers);
    expect(tx.status).toBe(201);
    const txView = (await tx.json()) as TransactionView;
    expect(txView.status).toBe("committed");
    await completed(stack, txView.id, headers);

    const got = await stack.request("GET", `/v1/transactions/${view.id}`, undefined, headers);
    expect(got.status).toBe(200);

    for (const [server, id] of [
      ["bank-1", from],
      ["bank-2", to],
    ]) {
      const acct = await stack.request("GET", `/v1/bank/${server}/accounts/${id}`, undefined, headers);
      expect(acct.status).toBe(200);
      expect(await acct.json()).toMatchObject({ balance: 5, version: 3 });
    }

    await expectError(await stack.request("GET", "/v1/nothing", undefined, headers), 404, "not_found");
  });
});
