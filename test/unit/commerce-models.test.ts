/**
 * The e-commerce participants' business rules, pure: each action planned by the
 * kit against resources as read, as a 2PC PREPARE or a saga step would plan it.
 */
import { describe, expect, it } from "vitest";
import { planGroup } from "../../src/participant-kit/planning.ts";
import type { Resource, ResourceModel, ResourceState } from "../../src/participant-kit/resource-model.ts";
import { inventoryModel } from "../../src/participants/commerce/inventory-model.ts";
import { orderModel } from "../../src/participants/commerce/order-model.ts";
import { paymentModel } from "../../src/participants/commerce/payment-model.ts";
import { shippingModel } from "../../src/participants/commerce/shipping-model.ts";

function plan<S extends ResourceState>(
  model: ResourceModel<S>,
  stored: Record<string, S>,
  steps: [action: string, input: unknown][],
) {
  const resources = new Map<string, Resource<S>>(
    Object.entries(stored).map(([id, state]) => [id, { id, version: 3, state }]),
  );
  return planGroup(
    model,
    steps.map(([action, input], index) => ({ index, action, input })),
    resources,
    "tx",
  );
}

const yes = (id: string, version: number, next: unknown) => ({
  vote: "yes",
  planned: [{ id, version, next }],
});
/** A quantity moved by reservation: no lock, no new state, the net change per field. */
const moved = (id: string, version: number, moves: Record<string, number>) => ({
  vote: "yes",
  planned: [{ id, version, moves }],
});
const no = (reason: string, failedBranch = 0) => ({ vote: "no", reason, failedBranch });

describe("inventory", () => {
  const stock = { w: { stock: 5 } };
  it.each([
    ["reserve takes stock", [["reserve", { sku: "w", quantity: 5 }]], moved("w", 3, { stock: -5 })],
    ["stock never goes below zero", [["reserve", { sku: "w", quantity: 6 }]], no("insufficient_stock")],
    [
      "two reservations are judged together",
      [
        ["reserve", { sku: "w", quantity: 3 }],
        ["reserve", { sku: "w", quantity: 3 }],
      ],
      no("insufficient_stock", 1),
    ],
    ["release puts stock back", [["release", { sku: "w", quantity: 2 }]], moved("w", 3, { stock: 2 })],
    ["an unknown SKU refuses", [["reserve", { sku: "nope", quantity: 1 }]], no("unknown_sku")],
    ["a quantity of zero is not valid", [["reserve", { sku: "w", quantity: 0 }]], no("invalid_input")],
    ["a SKU id with # is not valid", [["release", { sku: "w#1", quantity: 1 }]], no("invalid_input")],
  ] as const)("%s", (_, steps, expected) => {
    expect(plan(inventoryModel, stock, steps as never)).toEqual(expected);
  });
});

describe("payment", () => {
  const customers = { c: { balance: 100 } };
  it.each([
    [
      "charge takes from the balance",
      [["charge", { customer: "c", amount: 100 }]],
      moved("c", 3, { balance: -100 }),
    ],
    [
      "a charge over the balance refuses",
      [["charge", { customer: "c", amount: 101 }]],
      no("insufficient_funds"),
    ],
    ["refund gives back", [["refund", { customer: "c", amount: 5 }]], moved("c", 3, { balance: 5 })],
    ["an unknown customer refuses", [["refund", { customer: "x", amount: 5 }]], no("unknown_customer")],
    [
      "an amount in fractions is not valid",
      [["charge", { customer: "c", amount: 1.5 }]],
      no("invalid_input"),
    ],
  ] as const)("%s", (_, steps, expected) => {
    expect(plan(paymentModel, customers, steps as never)).toEqual(expected);
  });
});

describe("order", () => {
  const orders = {
    p: { status: "pending", customer: "c", total: 10 },
    k: { status: "confirmed", customer: "c", total: 10 },
    x: { status: "cancelled", customer: "c", total: 10 },
  } as const;
  it.each([
    [
      "create makes a pending order at version 0 (it did not exist)",
      [["create", { order: "new", customer: "c", total: 40 }]],
      yes("new", 0, { status: "pending", customer: "c", total: 40 }),
    ],
    [
      "create of an existing order refuses",
      [["create", { order: "x", customer: "c", total: 1 }]],
      no("order_exists"),
    ],
    [
      "confirm moves pending to confirmed",
      [["confirm", { order: "p" }]],
      yes("p", 3, { ...orders.p, status: "confirmed" }),
    ],
    ["confirm of a confirmed order refuses", [["confirm", { order: "k" }]], no("order_not_pending")],
    ["confirm of an unknown order refuses", [["confirm", { order: "nope" }]], no("unknown_order")],
    [
      "cancel ends a pending order",
      [["cancel", { order: "p" }]],
      yes("p", 3, { ...orders.p, status: "cancelled" }),
    ],
    [
      "cancel ends a confirmed order",
      [["cancel", { order: "k" }]],
      yes("k", 3, { ...orders.k, status: "cancelled" }),
    ],
    [
      "cancel of a cancelled order changes nothing",
      [["cancel", { order: "x" }]],
      { vote: "yes", planned: [{ id: "x", version: 3 }] },
    ],
    [
      "create then confirm in one group",
      [
        ["create", { order: "n", customer: "c", total: 1 }],
        ["confirm", { order: "n" }],
      ],
      yes("n", 0, { status: "confirmed", customer: "c", total: 1 }),
    ],
  ] as const)("%s", (_, steps, expected) => {
    expect(plan(orderModel, orders, steps as never)).toEqual(expected);
  });
});

describe("shipping", () => {
  const shipments = { s: { status: "scheduled", order: "o", address: "1 Main St" } } as const;
  it.each([
    [
      "schedule books a new shipment",
      [["schedule", { shipment: "n", order: "o", address: "2 Side St" }]],
      yes("n", 0, { status: "scheduled", order: "o", address: "2 Side St" }),
    ],
    [
      "schedule of an existing shipment refuses",
      [["schedule", { shipment: "s", order: "o", address: "x" }]],
      no("shipment_exists"),
    ],
    [
      "an empty address is not valid",
      [["schedule", { shipment: "n", order: "o", address: "  " }]],
      no("invalid_input"),
    ],
    [
      "cancel ends a shipment",
      [["cancel", { shipment: "s" }]],
      yes("s", 3, { ...shipments.s, status: "cancelled" }),
    ],
    ["cancel of an unknown shipment refuses", [["cancel", { shipment: "nope" }]], no("unknown_shipment")],
  ] as const)("%s", (_, steps, expected) => {
    expect(plan(shippingModel, shipments, steps as never)).toEqual(expected);
  });
});
