/**
 * Saga step barriers on DynamoDB Local, messages delivered straight to the
 * e-commerce participants' handlers (no coordinator, no queues): what each
 * participant writes and what it answers, for every order and repetition of a
 * branch's action and compensation, atomic stages, and an unreliable payment
 * provider. The full table of cases runs in memory in test/unit/saga-steps.test.ts.
 */
import { ConditionalCheckFailedException } from "@aws-sdk/client-dynamodb";
import { DeleteCommand } from "@aws-sdk/lib-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { physicalName } from "../../infra/topology.ts";
import { stepKey } from "../../src/adapters/dynamodb-barrier-items.ts";
import { createDynamoDbParticipantStore } from "../../src/adapters/dynamodb-participant-store.ts";
import type { ActionMessage, CompensateMessage, ParticipantMessage } from "../../src/core/messages.ts";
import { RetryLaterError } from "../../src/participant-kit/errors.ts";
import type { ParticipantStore } from "../../src/participant-kit/participant-store.ts";
import type { ResourceState } from "../../src/participant-kit/resource-model.ts";
import { createBuiltInParticipant } from "../../src/participants/built-in.ts";
import type { CommerceParticipantName } from "../../src/participants/commerce/names.ts";
import { PARTICIPANT_KINDS, type ServiceSettings } from "../../src/participants/kinds.ts";
import { silentLogger } from "../../testkit/logging.ts";
import { recording } from "../helpers/buses.ts";
import { type Stack, startStack } from "../helpers/stack.ts";

let stack: Stack;
let stores: Record<CommerceParticipantName, ParticipantStore<ResourceState>>;
beforeAll(async () => {
  stack = await startStack({ roles: [] });
  const { topology } = stack.config;
  const storeOf = (name: CommerceParticipantName) =>
    createDynamoDbParticipantStore({
      doc: stack.runtime.clients.doc,
      tableName: physicalName(topology, name),
      model: PARTICIPANT_KINDS[name].model,
      retentionSeconds: 3_600,
    });
  stores = {
    inventory: storeOf("inventory"),
    payment: storeOf("payment"),
    order: storeOf("order"),
    shipping: storeOf("shipping"),
  };
});
afterAll(() => stack?.stop());

const NO_FAILURES: ServiceSettings["payment"] = { failureRate: 0, latencyMs: 0 };

/** One participant's handler and what it told the coordinator, as `step:outcome[:reason]`. */
function participant(name: CommerceParticipantName, payment = NO_FAILURES) {
  const bus = recording();
  const p = createBuiltInParticipant(name, PARTICIPANT_KINDS[name], {
    store: stores[name],
    settings: { payment },
    bus,
    clock: Date.now,
    log: silentLogger(),
    lockPolicy: "no-wait",
  });
  const told = () =>
    bus.sent.map(({ message: m }) =>
      m.type === "result"
        ? `${m.step}:${m.outcome}${m.reason ? `:${m.reason}` : ""}`
        : m.type === "vote"
          ? `vote:${m.vote}${m.reason ? `:${m.reason}` : ""}`
          : m.type,
    );
  return { handle: (m: ParticipantMessage) => p.handle(m), told };
}

const started = Date.now();
const action = (txId: string, name: string, act: string, input: unknown, branch = 0): ActionMessage => ({
  type: "action",
  txId,
  participant: name,
  branch,
  action: act,
  input,
  deadline: Date.now() + 60_000,
  startedAt: started,
});
const compensate = (
  txId: string,
  name: string,
  act: string,
  input: unknown,
  extra: Partial<CompensateMessage> = {},
): CompensateMessage => ({
  type: "compensate",
  txId,
  participant: name,
  branch: 0,
  action: act,
  input,
  startedAt: started,
  ...extra,
});

const stock = async (sku: string) => (await stores.inventory?.getResource("inventory", sku))?.state?.stock;
const balance = async (customer: string) =>
  (await stores.payment?.getResource("payment", customer))?.state?.balance;
/** The step barrier items of a transaction in a participant's table. */
const steps = async (table: string, txId: string) =>
  (await stack.scan(table)).filter((i) => i.kind === "step" && i.txId === txId).map((i) => i.state);

describe("saga steps on DynamoDB", () => {
  it("action then compensate undoes it", async () => {
    await stores.inventory?.putResource("inventory", "s1", { stock: 10 });
    const inventory = participant("inventory");
    await inventory.handle(action("s1", "inventory", "reserve", { sku: "s1", quantity: 4 }));
    expect(await stock("s1")).toBe(6);
    await inventory.handle(compensate("s1", "inventory", "release", { sku: "s1", quantity: 4 }));
    expect(await stock("s1")).toBe(10);
    expect(inventory.told()).toEqual(["action:done", "compensation:done"]);
    expect(await steps("inventory", "s1")).toEqual(["compensated"]);
  });

  it("compensate before the action: the late action is blocked and nothing is applied", async () => {
    await stores.payment?.putResource("payment", "s2", { balance: 100 });
    const payment = participant("payment");
    await payment.handle(compensate("s2", "payment", "refund", { customer: "s2", amount: 30 }));
    await payment.handle(action("s2", "payment", "charge", { customer: "s2", amount: 30 }));
    expect(payment.told()).toEqual(["compensation:done", "action:failed:compensated"]);
    expect(await balance("s2")).toBe(100);
    expect((await stores.payment?.getResource("payment", "s2"))?.version).toBe(1);
    expect(await steps("payment", "s2")).toEqual(["compensated"]);
  });

  it("an action and a compensation each delivered twice apply once", async () => {
    const order = participant("order");
    const create = action("s3", "order", "create", { order: "s3", customer: "c", total: 9 });
    await order.handle(create);
    await order.handle(create);
    expect(await stores.order?.getResource("order", "s3")).toEqual({
      id: "s3",
      version: 1,
      state: { status: "pending", customer: "c", total: 9 },
    });
    const cancel = compensate("s3", "order", "cancel", { order: "s3" });
    await order.handle(cancel);
    await order.handle(cancel);
    expect(order.told()).toEqual(["action:done", "action:done", "compensation:done", "compensation:done"]);
    expect(await stores.order?.getResource("order", "s3")).toEqual({
      id: "s3",
      version: 2,
      state: { status: "cancelled", customer: "c", total: 9 },
    });
  });

  it("a failed action's compensation is a no-op", async () => {
    await stores.payment?.putResource("payment", "s4", { balance: 10 });
    const payment = participant("payment");
    await payment.handle(action("s4", "payment", "charge", { customer: "s4", amount: 50 }));
    await payment.handle(compensate("s4", "payment", "refund", { customer: "s4", amount: 50 }));
    expect(payment.told()).toEqual(["action:failed:insufficient_funds", "compensation:done"]);
    expect(await stores.payment?.getResource("payment", "s4")).toEqual({
      id: "s4",
      version: 1,
      state: { balance: 10 },
    });
    expect(await steps("payment", "s4")).toEqual(["compensated"]);
  });

  it("steps of several branches of one saga keep a barrier each", async () => {
    await stores.inventory?.putResource("inventory", "s5", { stock: 5 });
    const inventory = participant("inventory");
    await inventory.handle(action("s5", "inventory", "reserve", { sku: "s5", quantity: 1 }, 0));
    await inventory.handle(action("s5", "inventory", "reserve", { sku: "s5", quantity: 2 }, 3));
    await inventory.handle(
      compensate("s5", "inventory", "release", { sku: "s5", quantity: 2 }, { branch: 3 }),
    );
    expect(await stock("s5")).toBe(4);
    expect((await steps("inventory", "s5")).sort()).toEqual(["compensated", "done"]);
  });
});

describe("a reused id's saga steps on DynamoDB", () => {
  it("a compensation that meets the earlier transaction's step barrier records its own over it, which outlives it", async () => {
    await stores.inventory?.putResource("inventory", "s6", { stock: 10 });
    const inventory = participant("inventory");
    const reserve = action("s6", "inventory", "reserve", { sku: "s6", quantity: 4 });
    await inventory.handle(reserve);
    await inventory.handle({
      type: "finished",
      txId: "s6",
      participant: "inventory",
      startedAt: started,
      branches: [0],
    });
    // The id is used again while the earlier transaction's done barrier lingers.
    const later = started + 1;
    await inventory.handle({ ...reserve, startedAt: later });
    await inventory.handle(
      compensate("s6", "inventory", "release", { sku: "s6", quantity: 4 }, { startedAt: later }),
    );
    // TTL deletes the earlier transaction's barrier, if it is still there (DynamoDB Local never does).
    await stack.runtime.clients.doc
      .send(
        new DeleteCommand({
          TableName: physicalName(stack.config.topology, "inventory"),
          Key: { pk: stepKey("inventory", "s6", 0) },
          ConditionExpression: "txStartedAt = :earlier",
          ExpressionAttributeValues: { ":earlier": started },
        }),
      )
      .catch((err: unknown) => {
        if (!(err instanceof ConditionalCheckFailedException)) throw err;
      });
    // Late copies of this transaction's action and compensation.
    await inventory.handle({ ...reserve, startedAt: later });
    await inventory.handle(
      compensate("s6", "inventory", "release", { sku: "s6", quantity: 4 }, { startedAt: later }),
    );
    expect(inventory.told()).toEqual([
      "action:done",
      "action:failed:id_reused",
      "compensation:done",
      "action:failed:compensated",
      "compensation:done",
    ]);
    expect(await stock("s6")).toBe(6);
    const items = (await stack.scan("inventory")).filter((i) => i.kind === "step" && i.txId === "s6");
    expect(items).toEqual([expect.objectContaining({ state: "compensated", txStartedAt: later })]);
  });
});

describe("compensations of an atomic stage on DynamoDB", () => {
  const prepare = (txId: string): ParticipantMessage => ({
    type: "prepare",
    txId,
    participant: "shipping",
    deadline: Date.now() + 60_000,
    startedAt: started,
    branches: [{ index: 0, action: "schedule", input: { shipment: txId, order: "o", address: "2 Side St" } }],
  });
  const cancel = (txId: string) =>
    compensate(txId, "shipping", "cancel", { shipment: txId }, { atomic: true });

  it("after the stage's 2PC commit: undoes it", async () => {
    const shipping = participant("shipping");
    await shipping.handle(prepare("a1"));
    await shipping.handle({ type: "commit", txId: "a1", participant: "shipping" });
    expect((await stores.shipping?.getResource("shipping", "a1"))?.state?.status).toBe("scheduled");
    await shipping.handle(cancel("a1"));
    await shipping.handle(cancel("a1"));
    expect(shipping.told()).toEqual(["vote:yes", "ack", "compensation:done", "compensation:done"]);
    expect(await stores.shipping?.getResource("shipping", "a1")).toEqual({
      id: "a1",
      version: 2,
      state: { status: "cancelled", order: "o", address: "2 Side St" },
    });
  });

  it("after the stage's 2PC rollback: a no-op", async () => {
    const shipping = participant("shipping");
    await shipping.handle(prepare("a2"));
    await shipping.handle({ type: "rollback", txId: "a2", participant: "shipping" });
    await shipping.handle(cancel("a2"));
    expect(shipping.told()).toEqual(["vote:yes", "ack", "compensation:done"]);
    expect(await stores.shipping?.getResource("shipping", "a2")).toBeUndefined();
    expect(await steps("shipping", "a2")).toEqual(["compensated"]);
  });

  it("before the stage's PREPARE: a no-op, and the late PREPARE votes no and locks nothing", async () => {
    const shipping = participant("shipping");
    await shipping.handle(cancel("a3"));
    await shipping.handle(prepare("a3"));
    expect(shipping.told()).toEqual(["compensation:done", "vote:no:rolled_back"]);
    expect(await stores.shipping?.getResource("shipping", "a3")).toBeUndefined();
  });
});

describe("an unreliable payment provider", () => {
  it("failure rate 1: every action and compensation answers retry, and nothing is written", async () => {
    await stores.payment?.putResource("payment", "u1", { balance: 100 });
    const before = await stack.scan("payment");
    const flaky = participant("payment", { failureRate: 1, latencyMs: 0 });
    await flaky.handle(action("u1", "payment", "charge", { customer: "u1", amount: 10 }));
    await flaky.handle(action("u1", "payment", "charge", { customer: "u1", amount: 10 }));
    expect(flaky.told()).toEqual([
      "action:retry:payment_provider_unavailable",
      "action:retry:payment_provider_unavailable",
    ]);
    expect(await stack.scan("payment")).toEqual(before);

    // Once it works, the charge applies; a refund through a failing provider waits for it too.
    await participant("payment").handle(action("u1", "payment", "charge", { customer: "u1", amount: 10 }));
    expect(await balance("u1")).toBe(90);
    await flaky.handle(compensate("u1", "payment", "refund", { customer: "u1", amount: 10 }));
    expect(flaky.told().at(-1)).toBe("compensation:retry:payment_provider_unavailable");
    expect(await balance("u1")).toBe(90);
    expect(await steps("payment", "u1")).toEqual(["done"]);
  });

  it("failure rate 1 at PREPARE: the message fails (it comes back from the queue) and nothing is written", async () => {
    await stores.payment?.putResource("payment", "u2", { balance: 100 });
    const flaky = participant("payment", { failureRate: 1, latencyMs: 0 });
    const prepare: ParticipantMessage = {
      type: "prepare",
      txId: "u2",
      participant: "payment",
      deadline: Date.now() + 60_000,
      startedAt: started,
      branches: [{ index: 0, action: "charge", input: { customer: "u2", amount: 10 } }],
    };
    await expect(flaky.handle(prepare)).rejects.toBeInstanceOf(RetryLaterError);
    expect(await stores.payment?.getBarrier("payment", "u2")).toBeUndefined();
    expect(await stores.payment?.getResource("payment", "u2")).toEqual({
      id: "u2",
      version: 1,
      state: { balance: 100 },
    });
    expect(flaky.told()).toEqual([]);
  });

  it("latency: each call to the provider waits before it answers", async () => {
    await stores.payment?.putResource("payment", "u3", { balance: 100 });
    const slow = participant("payment", { failureRate: 0, latencyMs: 150 });
    const began = Date.now();
    await slow.handle(action("u3", "payment", "charge", { customer: "u3", amount: 10 }));
    expect(Date.now() - began).toBeGreaterThanOrEqual(150);
    expect(slow.told()).toEqual(["action:done"]);
  });
});
