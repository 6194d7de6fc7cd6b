/**
 * The loyalty example (examples/loyalty, on the participant kit) as its own
 * process on 127.0.0.1, its points and barriers in a DynamoDB Local table,
 * registered with a stack that signs its calls: used in a 2PC beside a bank
 * branch and in sagas — and killed right after a write, before its answer
 * (LOYALTY_EXIT_AFTER_WRITE), then restarted on the same port. The dispatcher
 * retries; the points are applied once. Every process started is stopped by
 * its process group.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { DeleteTableCommand, DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { TransactionView } from "../../src/core/view.ts";
import { freePort } from "../helpers/ports.ts";
import { eventually, type Stack, startStack } from "../helpers/stack.ts";

const SECRET = "loyalty-integration-secret-0123456789abcdef";
const table = `loyalty-example-${randomUUID().slice(0, 8)}`;

interface Service {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  output(): string;
}

let port: number;
let stack: Stack;
let service: Service | undefined;

/** `npm run example:loyalty` as a child, in its own process group; resolves once it listens. */
async function startService(env: Record<string, string> = {}): Promise<Service> {
  const child = spawn(process.execPath, ["--import", "tsx", "examples/loyalty/main.ts"], {
    env: {
      ...process.env,
      AWS_ENDPOINT_URL_DYNAMODB: inject("dynamodbEndpoint"),
      LOYALTY_PORT: String(port),
      LOYALTY_DYNAMODB_TABLE: table,
      CONCORD_HTTP_PARTICIPANT_SECRET: SECRET,
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let out = "";
  child.stdout?.on("data", (c: Buffer) => {
    out += c.toString();
  });
  child.stderr?.on("data", (c: Buffer) => {
    out += c.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  await eventually(
    async () => (out.includes("loyalty service listening") ? true : undefined),
    30_000,
    "the loyalty service to listen",
  ).catch((err) => {
    throw new Error(`${(err as Error).message}:\n${out}`);
  });
  return { child, exited, output: () => out };
}

async function stopService(): Promise<void> {
  const s = service;
  service = undefined;
  if (!s || s.child.exitCode !== null || s.child.signalCode !== null) return;
  try {
    process.kill(-(s.child.pid as number), "SIGKILL");
  } catch {
    return;
  }
  await s.exited;
}

const points = async (customer: string) =>
  ((await (await fetch(`http://127.0.0.1:${port}/customers/${customer}`)).json()) as { points: number })
    .points;

/** Starts a transaction; `settled` resolves once every participant acknowledged its outcome. */
async function begin(body: unknown): Promise<{ settled: Promise<TransactionView> }> {
  const res = await stack.request("POST", "/v1/transactions?wait=0", body);
  expect([201, 202]).toContain(res.status);
  const settled = stack.settle(((await res.json()) as TransactionView).id, 40_000);
  settled.catch(() => {});
  return { settled };
}

beforeAll(async () => {
  port = await freePort();
  service = await startService();
  stack = await startStack({
    bankServers: ["bank-1"],
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
    baseUrl: `http://127.0.0.1:${port}/concord`,
    protocols: ["2pc", "saga"],
  });
  expect(res.status).toBe(201);
}, 120_000);

afterAll(async () => {
  await stopService();
  await stack?.stop();
  const ddb = new DynamoDBClient({ endpoint: inject("dynamodbEndpoint") });
  await ddb.send(new DeleteTableCommand({ TableName: table })).catch(() => {});
  ddb.destroy();
});

const run = async (body: unknown) => (await begin(body)).settled;

const award = (customer: string, n: number) => ({
  participant: "loyalty",
  action: "award",
  input: { customer, points: n },
  compensation: { action: "revoke", input: { customer, points: n } },
});
const withdraw = (account: string, amount: number) => ({
  participant: "bank-1",
  action: "withdraw",
  input: { account, amount },
  compensation: { action: "deposit", input: { account, amount } },
});

describe("the loyalty example, on the participant kit, as its own process", () => {
  it("refuses a caller without concord's signature", async () => {
    const res = await fetch(`http://127.0.0.1:${port}/concord/rollback`, {
      method: "POST",
      body: JSON.stringify({ txId: "forged", participant: "loyalty" }),
    });
    expect(res.status).toBe(401);
  });

  it("awards in a 2PC beside a bank branch", async () => {
    await stack.seed("bank-1", "alice", 1000);
    const tx = await run({
      protocol: "2pc",
      branches: [
        { participant: "bank-1", action: "withdraw", input: { account: "alice", amount: 300 } },
        { participant: "loyalty", action: "award", input: { customer: "alice", points: 30 } },
      ],
    });
    expect(tx).toMatchObject({ status: "committed" });
    expect(await points("alice")).toBe(30);
    expect((await stack.account("bank-1", "alice")).balance).toBe(700);
  });

  it("votes no in a 2PC for a revoke it cannot cover; the bank's withdrawal is released", async () => {
    await stack.seed("bank-1", "bob", 100);
    const tx = await run({
      protocol: "2pc",
      branches: [
        { participant: "bank-1", action: "withdraw", input: { account: "bob", amount: 10 } },
        { participant: "loyalty", action: "revoke", input: { customer: "bob", points: 5 } },
      ],
    });
    expect(tx).toMatchObject({ status: "aborted", reason: "not_enough_points" });
    expect((await stack.account("bank-1", "bob")).balance).toBe(100);
  });

  it("compensates its award once when a later saga step fails", async () => {
    await stack.seed("bank-1", "cy", 0);
    const tx = await run({ protocol: "saga", branches: [award("cy", 7), withdraw("cy", 5)] });
    expect(tx).toMatchObject({ status: "aborted", phase: "compensated", reason: "insufficient_funds" });
    expect(await points("cy")).toBe(0);
  });

  it.each([
    ["a saga's award (after the action's write)", "action", "saga"],
    ["a 2PC's award (after the commit's write)", "commit", "2pc"],
  ])(
    "dies after %s, before its answer: restarted, the re-sent message applies nothing twice",
    async (_name, endpoint, protocol) => {
      const customer = `crash-${endpoint}`;
      await stack.seed("bank-1", customer, 100);
      await stopService();
      service = await startService({ LOYALTY_EXIT_AFTER_WRITE: endpoint });
      const dying = service;
      const { settled } = await begin({
        protocol,
        branches:
          protocol === "saga"
            ? [withdraw(customer, 10), award(customer, 12)]
            : [
                { participant: "bank-1", action: "withdraw", input: { account: customer, amount: 10 } },
                { participant: "loyalty", action: "award", input: { customer, points: 12 } },
              ],
      });
      // It wrote, then died without answering.
      expect(await dying.exited).toBe(75);
      expect(dying.output()).toContain(`exits after the ${endpoint} write`);
      service = await startService();
      expect(await settled).toMatchObject({ status: "committed" });
      expect(await points(customer)).toBe(12);
      expect((await stack.account("bank-1", customer)).balance).toBe(90);
    },
    60_000,
  );
});
