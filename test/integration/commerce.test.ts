/**
 * The e-commerce participants end to end on the emulators: a 2PC order across
 * inventory, payment, order and shipping through the API, an order that cannot
 * be served changing nothing, and their seed/read endpoints (design §3 errors,
 * auth with keys configured).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { physicalName } from "../../infra/topology.ts";
import { createDynamoDbParticipantStore } from "../../src/adapters/dynamodb-participant-store.ts";
import type { TransactionView } from "../../src/core/view.ts";
import { createBuiltInParticipant } from "../../src/participants/built-in.ts";
import { inventoryModel } from "../../src/participants/commerce/inventory-model.ts";
import { PARTICIPANT_KINDS } from "../../src/participants/kinds.ts";
import { silentLogger } from "../../testkit/logging.ts";
import { recording } from "../helpers/buses.ts";
import { type Stack, startStack } from "../helpers/stack.ts";

const COMMERCE_TABLES = ["inventory", "payment", "order", "shipping"];

async function expectError(res: Response, status: number, code: string) {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  expect(JSON.parse(text)).toEqual({
    error: { code, message: expect.any(String), ...(status === 400 ? { details: expect.anything() } : {}) },
  });
}

describe("2PC over the e-commerce participants", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(() => stack?.stop());

  const get = async (path: string) => {
    const res = await stack.request("GET", path);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const seed = async (path: string, body: unknown) => {
    const res = await stack.request("PUT", path, body);
    expect(res.status, await res.clone().text()).toBe(200);
    return (await res.json()) as Record<string, unknown>;
  };
  const order = async (id: string, quantity: number, amount: number) => {
    const res = await stack.request("POST", "/v1/transactions?wait=10000", {
      id,
      protocol: "2pc",
      branches: [
        { participant: "inventory", action: "reserve", input: { sku: `${id}-sku`, quantity } },
        { participant: "payment", action: "charge", input: { customer: `${id}-alice`, amount } },
        {
          participant: "order",
          action: "create",
          input: { order: id, customer: `${id}-alice`, total: amount },
        },
        {
          participant: "shipping",
          action: "schedule",
          input: { shipment: `${id}-ship`, order: id, address: "1 Main St" },
        },
      ],
    });
    expect([201, 202]).toContain(res.status);
    return stack.settle(((await res.json()) as TransactionView).id);
  };

  /** No lock held and no barrier left prepared in any e-commerce table. */
  async function expectNothingHeld() {
    for (const table of COMMERCE_TABLES) {
      const items = await stack.scan(table);
      expect(
        items.filter((i) => i.lockedBy !== undefined),
        table,
      ).toEqual([]);
      expect(
        items.filter((i) => i.kind === "barrier" && i.state === "prepared"),
        table,
      ).toEqual([]);
    }
  }

  it("commits an order across inventory, payment, order and shipping", async () => {
    await seed("/v1/inventory/o1-sku", { stock: 10 });
    expect(await seed("/v1/payment/customers/o1-alice", { balance: 1_000 })).toEqual({
      customer: "o1-alice",
      balance: 1_000,
      reserved: 0,
      pending: 0,
      version: 1,
    });
    const view = await order("o1", 2, 300);
    expect(view).toMatchObject({ status: "committed", phase: "committed" });
    expect(view.branches.map((b) => b.vote)).toEqual(["yes", "yes", "yes", "yes"]);
    expect((await get("/v1/inventory/o1-sku")).body).toEqual({
      sku: "o1-sku",
      stock: 8,
      reserved: 0,
      pending: 0,
      version: 2,
    });
    expect((await get("/v1/payment/customers/o1-alice")).body).toEqual({
      customer: "o1-alice",
      balance: 700,
      reserved: 0,
      pending: 0,
      version: 2,
    });
    expect((await get("/v1/orders/o1")).body).toEqual({
      order: "o1",
      status: "pending",
      customer: "o1-alice",
      total: 300,
      version: 1,
    });
    expect((await get("/v1/shipments/o1-ship")).body).toEqual({
      shipment: "o1-ship",
      status: "scheduled",
      order: "o1",
      address: "1 Main St",
      version: 1,
    });
    const barriers = (await stack.scan("order")).filter((i) => i.kind === "barrier" && i.txId === "o1");
    expect(barriers.map((b) => b.state)).toEqual(["committed"]);
    await expectNothingHeld();
  });

  it("out of stock: aborts with the reason, and nothing changes anywhere", async () => {
    await seed("/v1/inventory/o2-sku", { stock: 1 });
    await seed("/v1/payment/customers/o2-alice", { balance: 1_000 });
    const view = await order("o2", 5, 300);
    expect(view).toMatchObject({ status: "aborted", reason: "insufficient_stock" });
    expect(view.branches[0]).toMatchObject({ vote: "no", reason: "insufficient_stock" });
    expect((await get("/v1/inventory/o2-sku")).body).toEqual({
      sku: "o2-sku",
      stock: 1,
      reserved: 0,
      pending: 0,
      version: 1,
    });
    expect((await get("/v1/payment/customers/o2-alice")).body).toEqual({
      customer: "o2-alice",
      balance: 1_000,
      reserved: 0,
      pending: 0,
      version: 1,
    });
    // The order and shipment a prepared participant locked as placeholders are gone.
    expect((await get("/v1/orders/o2")).status).toBe(404);
    expect((await get("/v1/shipments/o2-ship")).status).toBe(404);
    const orderItems = await stack.scan("order");
    expect(orderItems.filter((i) => i.pk === "order#order#o2")).toEqual([]);
    await expectNothingHeld();
  });

  it("an order id already taken aborts the second order: order_exists", async () => {
    await seed("/v1/inventory/o1-sku", { stock: 10 });
    const res = await stack.request("POST", "/v1/transactions?wait=10000", {
      protocol: "2pc",
      branches: [
        { participant: "inventory", action: "reserve", input: { sku: "o1-sku", quantity: 1 } },
        { participant: "order", action: "create", input: { order: "o1", customer: "bob", total: 5 } },
      ],
    });
    const view = await stack.settle(((await res.json()) as TransactionView).id);
    expect(view).toMatchObject({ status: "aborted", reason: "order_exists" });
    expect((await get("/v1/orders/o1")).body).toMatchObject({ customer: "o1-alice", version: 1 });
    expect((await get("/v1/inventory/o1-sku")).body).toMatchObject({ stock: 10 });
  });

  describe("seed and read endpoints", () => {
    it("PUT resets stock and bumps the version; GET shows it", async () => {
      expect(await seed("/v1/inventory/e-sku", { stock: 3 })).toEqual({
        sku: "e-sku",
        stock: 3,
        reserved: 0,
        pending: 0,
        version: 1,
      });
      expect(await seed("/v1/inventory/e-sku", { stock: 0 })).toEqual({
        sku: "e-sku",
        stock: 0,
        reserved: 0,
        pending: 0,
        version: 2,
      });
      expect((await get("/v1/inventory/e-sku")).body).toEqual({
        sku: "e-sku",
        stock: 0,
        reserved: 0,
        pending: 0,
        version: 2,
      });
    });

    it.each([
      ["a negative stock", "/v1/inventory/e-bad", { stock: -1 }],
      ["a fractional stock", "/v1/inventory/e-bad", { stock: 1.5 }],
      ["an extra field", "/v1/inventory/e-bad", { stock: 1, price: 3 }],
      ["a balance as a string", "/v1/payment/customers/e-bad", { balance: "10" }],
      ["no body fields", "/v1/payment/customers/e-bad", {}],
    ])("%s is a 400 that creates nothing", async (_, path, body) => {
      await expectError(await stack.request("PUT", path, body), 400, "invalid_request");
      expect((await get(path)).status).toBe(404);
    });

    it("a body that is not JSON is a 400", async () => {
      const res = await stack.request("PUT", "/v1/inventory/e-bad", "{stock");
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("invalid_json");
    });

    it.each([
      "/v1/inventory/nothing-here",
      "/v1/inventory/bad%23id",
      "/v1/payment/customers/nobody",
      "/v1/orders/none",
      "/v1/shipments/none",
    ])("GET %s of what does not exist is a 404", async (path) => {
      await expectError(await stack.request("GET", path), 404, "not_found");
    });

    it("orders and shipments are read-only: they come to be through transactions", async () => {
      await expectError(
        await stack.request("PUT", "/v1/orders/o9", { status: "confirmed" }),
        404,
        "not_found",
      );
    });

    it("PUT on a SKU a prepared transaction reserves on is a 409 resource_reserved, and changes nothing", async () => {
      await seed("/v1/inventory/e-held", { stock: 4 });
      const { topology } = stack.config;
      const store = createDynamoDbParticipantStore({
        doc: stack.runtime.clients.doc,
        tableName: physicalName(topology, "inventory"),
        model: inventoryModel,
        retentionSeconds: 3_600,
      });
      const participant = createBuiltInParticipant("inventory", PARTICIPANT_KINDS.inventory, {
        store,
        settings: { payment: { failureRate: 0, latencyMs: 0 } },
        bus: recording(),
        clock: Date.now,
        log: silentLogger(),
        lockPolicy: "no-wait",
      });
      await participant.handle({
        type: "prepare",
        txId: "holder-1",
        participant: "inventory",
        deadline: Date.now() + 60_000,
        startedAt: Date.now(),
        branches: [{ index: 0, action: "reserve", input: { sku: "e-held", quantity: 1 } }],
      });
      // A reservation, not a lock: the view shows what it holds, and a reset must wait for it.
      expect((await get("/v1/inventory/e-held")).body).toEqual({
        sku: "e-held",
        stock: 4,
        reserved: 1,
        pending: 0,
        version: 1,
      });
      const res = await stack.request("PUT", "/v1/inventory/e-held", { stock: 100 });
      expect(res.status).toBe(409);
      expect(await res.json()).toEqual({ error: { code: "resource_reserved", message: expect.any(String) } });
      await participant.handle({ type: "rollback", txId: "holder-1", participant: "inventory" });
      expect((await get("/v1/inventory/e-held")).body).toEqual({
        sku: "e-held",
        stock: 4,
        reserved: 0,
        pending: 0,
        version: 1,
      });
    });

    it("a transaction naming an action a participant does not have is a 400 that starts nothing", async () => {
      const res = await stack.request("POST", "/v1/transactions", {
        id: "bad-action",
        protocol: "2pc",
        branches: [
          { participant: "inventory", action: "steal", input: { sku: "x", quantity: 1 } },
          { participant: "payment", action: "charge", input: { customer: "x", amount: -1 } },
        ],
      });
      const text = await res.text();
      expect(res.status, text).toBe(400);
      const details = (JSON.parse(text) as { error: { details: { path: string }[] } }).error.details;
      expect(details.map((d) => d.path)).toEqual(["branches.0.action", "branches.1.input.amount"]);
      expect((await stack.request("GET", "/v1/transactions/bad-action")).status).toBe(404);
    });
  });
});

describe("the e-commerce endpoints with API keys configured", () => {
  let stack: Stack;
  const CLIENT = { authorization: "Bearer client-key-1" };
  const ADMIN = { authorization: "Bearer admin-key-1" };
  beforeAll(async () => {
    stack = await startStack({
      roles: [],
      env: { CONCORD_API_KEYS: "client-key-1", CONCORD_ADMIN_KEYS: "admin-key-1" },
    });
  });
  afterAll(() => stack?.stop());

  it("seeding needs an admin key; reading needs any key", async () => {
    await expectError(await stack.request("PUT", "/v1/inventory/k", { stock: 1 }), 401, "unauthorized");
    await expectError(await stack.request("PUT", "/v1/inventory/k", { stock: 1 }, CLIENT), 403, "forbidden");
    await expectError(
      await stack.request("PUT", "/v1/payment/customers/k", { balance: 1 }, CLIENT),
      403,
      "forbidden",
    );
    expect((await stack.request("PUT", "/v1/inventory/k", { stock: 1 }, ADMIN)).status).toBe(200);
    await expectError(await stack.request("GET", "/v1/inventory/k"), 401, "unauthorized");
    expect((await stack.request("GET", "/v1/inventory/k", undefined, CLIENT)).status).toBe(200);
    await expectError(await stack.request("GET", "/v1/orders/k"), 401, "unauthorized");
  });
});
