/**
 * Placing an order across inventory, payment, order and shipping, end to end on
 * the emulators, in the three shapes the README shows: one 2PC transaction, a
 * saga with compensations, and a hybrid (inventory + payment as an atomic stage,
 * then the order, then the shipment). A failure at each stage of the saga
 * compensates exactly the branches it attempted, latest stage first; with every
 * message delivered twice the outcome is the same. After each, the e-commerce
 * invariants hold: stock never below zero, no charge without an order that
 * stands (or a refund), no order confirmed without its stock and payment.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TransactionView } from "../../src/core/view.ts";
import { duplicating } from "../helpers/buses.ts";
import { type Stack, startStack } from "../helpers/stack.ts";

interface Order {
  readonly id: string;
  readonly sku: string;
  readonly customer: string;
  readonly quantity: number;
  readonly amount: number;
}

const order = (id: string, quantity = 2, amount = 300): Order => ({
  id,
  sku: `${id}-sku`,
  customer: `${id}-cust`,
  quantity,
  amount,
});

const reserve = (o: Order) => ({
  participant: "inventory",
  action: "reserve",
  input: { sku: o.sku, quantity: o.quantity },
  compensation: { action: "release", input: { sku: o.sku, quantity: o.quantity } },
});
const charge = (o: Order) => ({
  participant: "payment",
  action: "charge",
  input: { customer: o.customer, amount: o.amount },
  compensation: { action: "refund", input: { customer: o.customer, amount: o.amount } },
});
const create = (o: Order) => ({
  participant: "order",
  action: "create",
  input: { order: o.id, customer: o.customer, total: o.amount },
  compensation: { action: "cancel", input: { order: o.id } },
});
const confirm = (o: Order) => ({
  participant: "order",
  action: "confirm",
  input: { order: o.id },
  compensation: { action: "cancel", input: { order: o.id } },
});
const schedule = (o: Order) => ({
  participant: "shipping",
  action: "schedule",
  input: { shipment: `${o.id}-ship`, order: o.id, address: "1 Main St" },
  compensation: { action: "cancel", input: { shipment: `${o.id}-ship` } },
});

interface SagaBranch {
  readonly participant: string;
  readonly action: string;
  readonly input: unknown;
  readonly compensation: { readonly action: string; readonly input: unknown };
}

const withoutCompensation = ({ compensation: _c, ...branch }: SagaBranch) => branch;

/** One 2PC transaction: all four services, the order created and confirmed at once. */
const twoPhaseOrder = (o: Order) => ({
  id: o.id,
  protocol: "2pc",
  branches: [reserve(o), charge(o), create(o), confirm(o), schedule(o)].map(withoutCompensation),
});

/** Stages: 0 create the order (pending), 1 reserve + charge in parallel, 2 schedule, 3 confirm. */
const sagaOrder = (o: Order) => ({
  id: o.id,
  protocol: "saga",
  branches: [
    { ...create(o), stage: 0 },
    { ...reserve(o), stage: 1 },
    { ...charge(o), stage: 1 },
    { ...schedule(o), stage: 2 },
    { ...confirm(o), stage: 3 },
  ],
});

/** Stage 0 atomic (reserve + charge as one 2PC group), then the order, the shipment, the confirmation. */
const hybridOrder = (o: Order) => ({
  id: o.id,
  protocol: "saga",
  atomicStages: [0],
  branches: [
    { ...reserve(o), stage: 0 },
    { ...charge(o), stage: 0 },
    { ...create(o), stage: 1 },
    { ...schedule(o), stage: 2 },
    { ...confirm(o), stage: 3 },
  ],
});

function orderPlacement(name: string, options: Parameters<typeof startStack>[0] = {}) {
  let stack: Stack;

  async function put(path: string, body: unknown) {
    const res = await stack.request("PUT", path, body);
    expect(res.status, await res.clone().text()).toBe(200);
  }
  async function get(path: string): Promise<Record<string, unknown> | undefined> {
    const res = await stack.request("GET", path);
    if (res.status === 404) return undefined;
    expect(res.status).toBe(200);
    return (await res.json()) as Record<string, unknown>;
  }
  async function seed(o: Order, stock = 10, balance = 1000) {
    await put(`/v1/inventory/${o.sku}`, { stock });
    await put(`/v1/payment/customers/${o.customer}`, { balance });
  }
  async function run(body: {
    readonly id: string;
    readonly [field: string]: unknown;
  }): Promise<TransactionView> {
    const res = await stack.request("POST", "/v1/transactions?wait=15000", body);
    const text = await res.text();
    expect([201, 202], text).toContain(res.status);
    return stack.settle(body.id, 30_000);
  }

  /** What the four services hold for an order, read through the API. */
  async function world(o: Order) {
    const sku = await get(`/v1/inventory/${o.sku}`);
    const customer = await get(`/v1/payment/customers/${o.customer}`);
    return {
      stock: sku?.stock,
      balance: customer?.balance,
      order: (await get(`/v1/orders/${o.id}`))?.status,
      shipment: (await get(`/v1/shipments/${o.id}-ship`))?.status,
      // A lock or a reservation left behind: either outlived its transaction.
      locked: [sku?.lockedBy, customer?.lockedBy].filter((x) => x !== undefined),
      held: [sku, customer].filter((r) => r !== undefined && (r.reserved !== 0 || r.pending !== 0)).length,
    };
  }

  /** The e-commerce invariants, for an order seeded with 10 in stock and 1000 to spend. */
  async function expectInvariants(o: Order) {
    const w = await world(o);
    expect(w.locked).toEqual([]);
    expect(w.held).toBe(0);
    expect(w.stock).toBeGreaterThanOrEqual(0);
    const charged = 1000 - (w.balance as number);
    const reserved = 10 - (w.stock as number);
    if (w.order === "confirmed") {
      // Confirmed: its stock is reserved and it is paid, exactly once.
      expect({ reserved, charged, shipment: w.shipment }).toEqual({
        reserved: o.quantity,
        charged: o.amount,
        shipment: "scheduled",
      });
    } else {
      // Not standing (cancelled or never created): nothing kept, everything refunded.
      expect(w.order === undefined || w.order === "cancelled").toBe(true);
      expect({ reserved, charged }).toEqual({ reserved: 0, charged: 0 });
      expect(w.shipment === undefined || w.shipment === "cancelled").toBe(true);
    }
    return w;
  }

  /** Stage numbers of the compensations, in the order they were sent. */
  const compensationOrder = (view: TransactionView) =>
    view.events.filter((e) => e.type === "compensation_sent").map((e) => e.stage);

  describe(name, () => {
    beforeAll(async () => {
      stack = await startStack(options);
    });
    afterAll(() => stack?.stop());

    it("as one 2PC transaction: confirmed, stock reserved, customer charged, shipment scheduled", async () => {
      const o = order(`${name}-2pc`);
      await seed(o);
      const view = await run(twoPhaseOrder(o));
      expect(view).toMatchObject({ status: "committed", phase: "committed" });
      expect(await expectInvariants(o)).toMatchObject({ order: "confirmed", stock: 8, balance: 700 });
    });

    it("as one 2PC transaction, out of stock: aborted and nothing changes anywhere", async () => {
      const o = order(`${name}-2pc-short`, 11);
      await seed(o);
      const view = await run(twoPhaseOrder(o));
      expect(view).toMatchObject({ status: "aborted", reason: "insufficient_stock" });
      expect(await expectInvariants(o)).toMatchObject({ order: undefined, stock: 10, balance: 1000 });
    });

    it("as a saga: every stage runs, the order ends confirmed", async () => {
      const o = order(`${name}-saga`);
      await seed(o);
      const view = await run(sagaOrder(o));
      expect(view).toMatchObject({ status: "committed", phase: "committed" });
      expect(view.branches.map((b) => b.state)).toEqual(["done", "done", "done", "done", "done"]);
      expect(compensationOrder(view)).toEqual([]);
      expect(await expectInvariants(o)).toMatchObject({ order: "confirmed", stock: 8, balance: 700 });
    });

    it("as a saga failing at stage 0 (the order exists): nothing else is attempted", async () => {
      const o = order(`${name}-saga-f0`);
      await seed(o);
      // An earlier order under the same id makes `create` a business failure.
      const earlier = await run({ id: `${o.id}-earlier`, protocol: "saga", branches: [create(o)] });
      expect(earlier.status).toBe("committed");
      const view = await run(sagaOrder(o));
      expect(view).toMatchObject({ status: "aborted", phase: "compensated", reason: "order_exists" });
      expect(view.branches.map((b) => b.state)).toEqual([
        "failed",
        "pending",
        "pending",
        "pending",
        "pending",
      ]);
      expect(compensationOrder(view)).toEqual([0]);
      // The earlier order is untouched: a failed create's compensation is a no-op.
      expect(await world(o)).toMatchObject({ order: "pending", stock: 10, balance: 1000 });
    });

    it("as a saga failing at stage 1 (out of stock): the charge beside it is refunded, the order cancelled", async () => {
      const o = order(`${name}-saga-f1`, 11);
      await seed(o);
      const view = await run(sagaOrder(o));
      expect(view).toMatchObject({ status: "aborted", phase: "compensated", reason: "insufficient_stock" });
      expect(view.branches.map((b) => b.state)).toEqual([
        "compensated",
        "failed",
        "compensated",
        "pending",
        "pending",
      ]);
      expect(compensationOrder(view)).toEqual([1, 0]);
      expect(await expectInvariants(o)).toMatchObject({ order: "cancelled", stock: 10, balance: 1000 });
    });

    it("as a saga failing at stage 2 (the shipment exists): stages 1 and 0 are undone, latest first", async () => {
      const o = order(`${name}-saga-f2`);
      await seed(o);
      const taken = await run({ id: `${o.id}-taken`, protocol: "saga", branches: [schedule(o)] });
      expect(taken.status).toBe("committed");
      const view = await run(sagaOrder(o));
      expect(view).toMatchObject({ status: "aborted", phase: "compensated", reason: "shipment_exists" });
      expect(view.branches.map((b) => b.state)).toEqual([
        "compensated",
        "compensated",
        "compensated",
        "failed",
        "pending",
      ]);
      expect(compensationOrder(view)).toEqual([2, 1, 0]);
      const w = await world(o);
      expect(w).toMatchObject({ order: "cancelled", stock: 10, balance: 1000, shipment: "scheduled" });
    });

    it("as a hybrid: the atomic stage commits as one, then the plain steps; the order ends confirmed", async () => {
      const o = order(`${name}-hybrid`);
      await seed(o);
      const view = await run(hybridOrder(o));
      expect(view).toMatchObject({ status: "committed", phase: "committed" });
      expect(await expectInvariants(o)).toMatchObject({ order: "confirmed", stock: 8, balance: 700 });
    });

    it("as a hybrid whose atomic stage aborts (insufficient funds): rolled back, nothing else runs", async () => {
      const o = order(`${name}-hybrid-poor`, 2, 5000);
      await seed(o);
      const view = await run(hybridOrder(o));
      expect(view).toMatchObject({ status: "aborted", phase: "compensated", reason: "insufficient_funds" });
      expect(compensationOrder(view)).toEqual([]);
      expect(await expectInvariants(o)).toMatchObject({ order: undefined, stock: 10, balance: 1000 });
    });

    it("as a hybrid failing after its atomic stage committed: the atomic stage is compensated too", async () => {
      const o = order(`${name}-hybrid-f2`);
      await seed(o);
      const taken = await run({ id: `${o.id}-taken`, protocol: "saga", branches: [schedule(o)] });
      expect(taken.status).toBe("committed");
      const view = await run(hybridOrder(o));
      expect(view).toMatchObject({ status: "aborted", phase: "compensated", reason: "shipment_exists" });
      expect(compensationOrder(view)).toEqual([2, 1, 0]);
      const w = await world(o);
      expect(w).toMatchObject({ order: "cancelled", stock: 10, balance: 1000, shipment: "scheduled" });
    });
  });
}

orderPlacement("order");
// Every message, both ways, delivered twice: the same outcomes, nothing applied twice.
orderPlacement("order-dup", { wrapBus: (bus) => duplicating(bus, 20) });
