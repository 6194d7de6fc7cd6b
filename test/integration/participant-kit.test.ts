/**
 * A service built on @concord/participant, on 127.0.0.1 with its barriers on
 * DynamoDB Local, registered as an HTTP participant and driven by the real
 * dispatcher — every message to it delivered twice — in 2PC transactions
 * beside a bank branch and in a saga. The dispatcher signs its calls
 * (CONCORD_HTTP_PARTICIPANT_SECRET) and the kit checks them.
 */
import { randomUUID } from "node:crypto";
import type { AddressInfo } from "node:net";
import { CreateTableCommand, DeleteTableCommand, DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import {
  barrierTableDefinition,
  createDynamoDbBarrierStore,
} from "../../packages/participant/src/dynamodb-store.ts";
import { participantApp } from "../../packages/participant/src/hono.ts";
import { done, failed, no, yes } from "../../packages/participant/src/rules.ts";
import type { TransactionView } from "../../src/core/view.ts";
import type { MessageBus } from "../../src/ports/message-bus.ts";
import { duplicating } from "../helpers/buses.ts";
import { type Stack, startStack } from "../helpers/stack.ts";

const SECRET = "integration-secret-shared-with-the-kit-0123";

/** The loyalty service: points per member, and what each transaction holds. */
const points = new Map<string, number>();
const held = new Map<string, number>();
const calls: string[] = [];
type Branch = { action: string; input: unknown };
const amountOf = (b: Branch) => b.input as { member: string; points: number };

const ddb = new DynamoDBClient({ endpoint: inject("dynamodbEndpoint") });
const tableName = `loyalty-${randomUUID().slice(0, 8)}`;

const loyalty = participantApp({
  store: createDynamoDbBarrierStore({ client: DynamoDBDocumentClient.from(ddb), tableName }),
  secret: SECRET,
  twoPhase: {
    async prepare({ txId, branches }) {
      calls.push(`prepare ${txId}`);
      for (const b of branches) {
        const { member, points: n } = amountOf(b);
        if (b.action === "redeem" && (points.get(member) ?? 0) < n) return no("not_enough_points", b.branch);
      }
      for (const b of branches.filter((b) => b.action === "redeem")) {
        const { member, points: n } = amountOf(b);
        points.set(member, (points.get(member) ?? 0) - n);
      }
      held.set(txId, branches.length);
      return yes();
    },
    async commit({ txId, branches }) {
      calls.push(`commit ${txId}`);
      for (const b of branches.filter((b) => b.action === "earn")) {
        const { member, points: n } = amountOf(b);
        points.set(member, (points.get(member) ?? 0) + n);
      }
      held.delete(txId);
    },
    async rollback({ txId, branches }) {
      calls.push(`rollback ${txId}`);
      if (!held.has(txId)) return;
      for (const b of branches.filter((b) => b.action === "redeem")) {
        const { member, points: n } = amountOf(b);
        points.set(member, (points.get(member) ?? 0) + n);
      }
      held.delete(txId);
    },
  },
  saga: {
    async action({ txId, action, input }) {
      calls.push(`action ${txId}`);
      const { member, points: n } = amountOf({ action, input });
      const now = points.get(member) ?? 0;
      if (action === "redeem" && now < n) return failed("not_enough_points");
      points.set(member, now + (action === "earn" ? n : -n));
      return done();
    },
    async compensate({ txId, action, input }) {
      calls.push(`compensate ${txId}`);
      const { member, points: n } = amountOf({ action, input });
      points.set(member, (points.get(member) ?? 0) + (action === "earn" ? n : -n));
    },
  },
});

let stack: Stack;
let server: ReturnType<typeof serve>;
let url: string;

const twice = (bus: MessageBus): MessageBus => {
  const dup = duplicating(bus);
  return {
    toCoordinator: (m) => bus.toCoordinator(m),
    toParticipant: (p, m, o) => (p === "loyalty" ? dup : bus).toParticipant(p, m, o),
  };
};

beforeAll(async () => {
  await ddb.send(new CreateTableCommand(barrierTableDefinition(tableName)));
  const app = new Hono().route("/concord", loyalty);
  server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, () => resolve(s));
  });
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/concord`;
  stack = await startStack({
    bankServers: ["bank-1"],
    wrapBus: twice,
    env: {
      CONCORD_COMMERCE_PARTICIPANTS: "none",
      CONCORD_HTTP_PARTICIPANT_ALLOW_PRIVATE: "true",
      CONCORD_HTTP_PARTICIPANT_SECRET: SECRET,
      CONCORD_HTTP_TIMEOUT_MS: "2000",
      CONCORD_PREPARE_RETRY_MS: "300",
      CONCORD_DECISION_RETRY_MS: "300",
      CONCORD_BACKOFF_CAP_MS: "1500",
    },
  });
  const res = await stack.request("POST", "/v1/participants", {
    name: "loyalty",
    baseUrl: url,
    protocols: ["2pc", "saga"],
  });
  expect(res.status).toBe(201);
}, 90_000);

afterAll(async () => {
  await stack?.stop();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await ddb.send(new DeleteTableCommand({ TableName: tableName }));
  ddb.destroy();
});

async function begin(body: unknown): Promise<TransactionView> {
  const res = await stack.request("POST", "/v1/transactions?wait=10000", body);
  expect([201, 202]).toContain(res.status);
  return stack.settle(((await res.json()) as TransactionView).id);
}

const callsOf = (txId: string) => calls.filter((c) => c.endsWith(` ${txId}`)).map((c) => c.split(" ")[0]);
/** The duplicated copies land a moment after the transaction settles. */
const quiet = () => new Promise((resolve) => setTimeout(resolve, 500));

describe("a kit participant driven by the dispatcher", () => {
  it("refuses a caller without concord's signature, and runs nothing", async () => {
    const res = await fetch(`${url}/rollback`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ txId: "forged", participant: "loyalty" }),
    });
    expect(res.status).toBe(401);
    expect(callsOf("forged")).toEqual([]);
  });

  it("commits a 2PC beside a bank branch, each rule once though every message came twice", async () => {
    await stack.seed("bank-1", "alice", 500);
    const tx = await begin({
      protocol: "2pc",
      branches: [
        { participant: "bank-1", action: "withdraw", input: { account: "alice", amount: 100 } },
        { participant: "loyalty", action: "earn", input: { member: "ada", points: 10 } },
      ],
    });
    expect(tx).toMatchObject({ status: "committed", phase: "committed" });
    await quiet();
    expect(callsOf(tx.id)).toEqual(["prepare", "commit"]);
    expect(points.get("ada")).toBe(10);
    expect((await stack.account("bank-1", "alice")).balance).toBe(400);
  });

  it("aborts a 2PC whose bank branch votes no, releasing what the service held", async () => {
    await stack.seed("bank-1", "bob", 10);
    points.set("bo", 50);
    const tx = await begin({
      protocol: "2pc",
      branches: [
        { participant: "bank-1", action: "withdraw", input: { account: "bob", amount: 100 } },
        { participant: "loyalty", action: "redeem", input: { member: "bo", points: 20 } },
      ],
    });
    expect(tx).toMatchObject({ status: "aborted", reason: "insufficient_funds" });
    await quiet();
    // Prepared then rolled back, or rolled back first (then the late PREPARE voted no and ran nothing).
    expect([["prepare", "rollback"], []]).toContainEqual(callsOf(tx.id));
    expect(points.get("bo")).toBe(50);
    expect(held.has(tx.id)).toBe(false);
  });

  it("votes no through the kit, and the reason reaches the client", async () => {
    await stack.seed("bank-1", "cy", 100);
    const tx = await begin({
      protocol: "2pc",
      branches: [
        { participant: "bank-1", action: "withdraw", input: { account: "cy", amount: 10 } },
        { participant: "loyalty", action: "redeem", input: { member: "nobody", points: 5 } },
      ],
    });
    expect(tx).toMatchObject({ status: "aborted", reason: "not_enough_points" });
    expect((await stack.account("bank-1", "cy")).balance).toBe(100);
  });

  it("compensates a saga's kit step once when a later step fails", async () => {
    await stack.seed("bank-1", "dee", 0);
    points.set("di", 0);
    const tx = await begin({
      protocol: "saga",
      branches: [
        {
          participant: "loyalty",
          action: "earn",
          input: { member: "di", points: 7 },
          compensation: { action: "redeem", input: { member: "di", points: 7 } },
        },
        // Fails: dee has nothing to withdraw.
        {
          participant: "bank-1",
          action: "withdraw",
          input: { account: "dee", amount: 5 },
          compensation: { action: "deposit", input: { account: "dee", amount: 5 } },
        },
      ],
    });
    expect(tx).toMatchObject({ status: "aborted", phase: "compensated", reason: "insufficient_funds" });
    await quiet();
    expect(callsOf(tx.id)).toEqual(["action", "compensate"]);
    expect(points.get("di")).toBe(0);
  });
});
