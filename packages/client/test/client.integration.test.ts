/**
 * The client against a whole concord on the suite's emulators, over real HTTP:
 * bank-3 runs no participant, so a transaction that touches it stays undecided
 * for as long as a test needs.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Stack, startStack } from "../../../test/helpers/stack.ts";
import {
  ConcordError,
  createClient,
  GENERIC_ROUTES,
  isConcordError,
  ROUTES,
  type RouteName,
  type TransferOperation,
} from "../src/index.ts";

let stack: Stack;
let url: string;

beforeAll(async () => {
  stack = await startStack({ port: 0, participants: ["bank-1", "bank-2"] });
  url = stack.url as string;
  const client = createClient({ baseUrl: url });
  for (const [server, account, balance] of [
    ["bank-1", "alice", 1000],
    ["bank-2", "bob", 0],
    ["bank-3", "carol", 100],
  ] as const) {
    await client.putAccount(server, account, balance);
  }
});
afterAll(() => stack?.stop());

const move = (amount: number): TransferOperation[] => [
  { server_id: "bank-1", account_id: "alice", operation: "withdraw", amount },
  { server_id: "bank-2", account_id: "bob", operation: "deposit", amount },
];

describe("the client against a running concord", () => {
  it("transfers, reads and waits for the outcome", async () => {
    const client = createClient({ baseUrl: url });
    const started = await client.transfer(move(10));
    const decided = await client.waitFor(started.id, { timeoutMs: 15_000, until: "final" });
    expect(decided).toMatchObject({ id: started.id, status: "committed", phase: "committed" });
    expect((await client.get(started.id)).branches.map((b) => b.state)).toEqual(["committed", "committed"]);
  });

  it("a response lost on the way back is retried with the same key: one transaction, applied once", async () => {
    let lost = 0;
    // The request reaches concord and starts the transfer; the caller never sees the answer.
    const losing: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      if (String(input).includes("/v1/transfers") && lost++ === 0) throw new TypeError("fetch failed");
      return res;
    };
    const client = createClient({ baseUrl: url, fetch: losing, retry: { baseDelayMs: 10 } });
    const before = (await client.getAccount("bank-2", "bob")).balance;
    const view = await client.transfer(move(7), { wait: 10_000 });
    expect(lost).toBe(2);
    expect(view.status).toBe("committed");
    await client.waitFor(view.id, { until: "final", timeoutMs: 15_000 });
    expect((await client.getAccount("bank-2", "bob")).balance).toBe(before + 7);
  });

  it("the caller's own repeat with the key returns the same transaction", async () => {
    const client = createClient({ baseUrl: url });
    const key = `order-${Date.now()}`;
    const first = await client.transfer(move(1), { idempotencyKey: key, wait: 10_000 });
    const again = await client.transfer(move(1), { idempotencyKey: key, wait: 10_000 });
    expect(again.id).toBe(first.id);
    expect(first.id).toBe(key);
    // The same key with another request is refused, typed.
    await expect(client.transfer(move(2), { idempotencyKey: key })).rejects.toMatchObject({
      code: "idempotency_conflict",
      status: 409,
    });
  });

  it("begins a saga", async () => {
    const client = createClient({ baseUrl: url });
    const view = await client.begin(
      {
        protocol: "saga",
        branches: [
          {
            participant: "bank-1",
            action: "withdraw",
            input: { account: "alice", amount: 5 },
            compensation: { action: "deposit", input: { account: "alice", amount: 5 } },
          },
          {
            participant: "bank-2",
            action: "deposit",
            input: { account: "bob", amount: 5 },
            compensation: { action: "withdraw", input: { account: "bob", amount: 5 } },
          },
        ],
      },
      { wait: 10_000 },
    );
    expect(view).toMatchObject({ protocol: "saga", status: "committed" });
  });

  it("aborts an undecided transaction and refuses to abort a decided one", async () => {
    const client = createClient({ baseUrl: url });
    const stuck = await client.transfer([
      { server_id: "bank-3", account_id: "carol", operation: "withdraw", amount: 1 },
      { server_id: "bank-2", account_id: "bob", operation: "deposit", amount: 1 },
    ]);
    expect(stuck.status).toBe("pending");
    expect((await client.retry(stuck.id)).status).toBe("pending");
    expect((await client.abort(stuck.id)).status).toBe("aborted");
    const err = await client.abort(stuck.id).catch((e: unknown) => e);
    expect(isConcordError(err, "conflict")).toBe(true);
    expect((err as ConcordError).status).toBe(409);
  });

  it("reads and seeds any kind's resources", async () => {
    const client = createClient({ baseUrl: url });
    await client.putResource("inventory", "sku-cli-1", { stock: 7 });
    expect(await client.getResource("inventory", "sku-cli-1")).toMatchObject({
      sku: "sku-cli-1",
      stock: 7,
      version: 1,
    });
    expect(await client.getResource("bank/bank-1/accounts", "alice")).toMatchObject({
      server: "bank-1",
      account: "alice",
    });
    await expect(client.getResource("inventory", "no-such-sku")).rejects.toMatchObject({ code: "not_found" });
  });

  it("raises the API's errors typed, with their details", async () => {
    const client = createClient({ baseUrl: url });
    await expect(client.get("no-such-transaction")).rejects.toMatchObject({ code: "not_found", status: 404 });
    const err = await client
      .transfer([{ server_id: "bank-1", account_id: "alice", operation: "withdraw", amount: -1 }])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConcordError);
    expect(err).toMatchObject({ code: "invalid_request", status: 400 });
    expect(JSON.stringify((err as ConcordError).details)).toContain("amount");
  });

  it("pages through the listing by its cursor", async () => {
    const client = createClient({ baseUrl: url });
    const ids = new Set<string>();
    for (let i = 0; i < 3; i++) ids.add((await client.transfer(move(1), { wait: 10_000 })).id);
    const seen: string[] = [];
    let pages = 0;
    for await (const page of client.list({ status: "committed", limit: 2 })) {
      pages++;
      seen.push(...page.transactions.map((t) => t.id));
    }
    expect(pages).toBeGreaterThan(1);
    expect(new Set(seen).size).toBe(seen.length);
    for (const id of ids) expect(seen).toContain(id);
  });

  it("every route the client calls is in the server's OpenAPI document, once the server serves one", async (ctx) => {
    const res = await fetch(`${url}/openapi.json`);
    // The document is generated from the API's schemas; until the server serves it,
    // test/server-types.test.ts checks the client's types against those schemas directly.
    if (res.status === 404) ctx.skip();
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { paths?: Record<string, Record<string, unknown>> };
    const missing = Object.entries(ROUTES)
      .filter(([name]) => !GENERIC_ROUTES.includes(name as RouteName))
      .filter(([, r]) => !doc.paths?.[r.path]?.[r.method.toLowerCase()])
      .map(([name, r]) => `${name}: ${r.method} ${r.path}`);
    expect(missing).toEqual([]);
  });

  it("each route's answer in the document is the component whose schema test/server-types.test.ts compares with the client's type", async () => {
    const doc = (await (await fetch(`${url}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { responses: Record<string, { content?: unknown }> }>>;
    };
    // The answer's schema reference per route, success statuses only.
    const answers = (name: RouteName) => {
      const r = ROUTES[name];
      const responses = doc.paths[r.path]?.[r.method.toLowerCase()]?.responses ?? {};
      return [
        ...new Set(
          Object.entries(responses)
            .filter(([status]) => status.startsWith("2"))
            .map(([, res]) => JSON.stringify(res.content)),
        ),
      ].map(
        (content) =>
          (JSON.parse(content) as { "application/json"?: { schema?: { $ref?: string } } })?.[
            "application/json"
          ]?.schema?.$ref,
      );
    };
    const component = (id: string) => [`#/components/schemas/${id}`];
    expect({
      begin: answers("begin"),
      transfer: answers("transfer"),
      get: answers("get"),
      list: answers("list"),
      abort: answers("abort"),
      retry: answers("retry"),
      registerParticipant: answers("registerParticipant"),
      getParticipant: answers("getParticipant"),
      listParticipants: answers("listParticipants"),
    }).toEqual({
      begin: component("TransactionView"),
      transfer: component("TransactionView"),
      get: component("TransactionView"),
      list: component("TransactionPage"),
      abort: component("TransactionView"),
      retry: component("TransactionView"),
      registerParticipant: component("RegisteredParticipant"),
      getParticipant: component("RegisteredParticipant"),
      listParticipants: component("ParticipantPage"),
    });
  });
});
