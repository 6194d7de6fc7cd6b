/**
 * Transient AWS faults (issue 3): the emulators never throttle, conflict or
 * fail, so the fault injector answers chosen requests with the error responses
 * AWS would send. Each test names the operation and fault, then checks the
 * outcome and the invariants of design §4, not just "no error".
 */
import { randomUUID } from "node:crypto";
import {
  DynamoDBClient,
  InternalServerError,
  ListTablesCommand,
  ProvisionedThroughputExceededException,
  RequestLimitExceeded,
  ThrottlingException,
  TransactionCanceledException,
  TransactWriteItemsCommand,
} from "@aws-sdk/client-dynamodb";
import { RequestThrottled, SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { physicalName } from "../../infra/topology.ts";
import { createAwsClients, destroyAwsClients } from "../../src/adapters/aws-clients.ts";
import { createDynamoDbParticipantStore } from "../../src/adapters/dynamodb-participant-store.ts";
import { isTransientCancellation, isUnavailableError } from "../../src/adapters/transient-errors.ts";
import { loadConfig } from "../../src/config.ts";
import { bankModel } from "../../src/participants/bank/bank-rules.ts";
import { TransientStoreError } from "../../src/ports/errors.ts";
import type { DynamoDbFault, FaultCall, SqsFault } from "../../testkit/faults/fault-catalogue.ts";
import { createFaultInjector, type FaultInjector } from "../../testkit/faults/fault-injection.ts";
import { dropping, type Sent } from "../helpers/buses.ts";
import { bankState, expectAgreement } from "../helpers/invariants.ts";
import { type Stack, startStack, testEnv } from "../helpers/stack.ts";

const credentials = { accessKeyId: "test", secretAccessKey: "test" };

/** Raw clients with one attempt: the error the SDK builds from the injected response, unretried. */
function singleShotClients(faults: FaultInjector) {
  const common = { region: "us-east-1", credentials, maxAttempts: 1 };
  const dynamodb = new DynamoDBClient({ ...common, endpoint: inject("dynamodbEndpoint") });
  const sqs = new SQSClient({ ...common, endpoint: inject("sqsEndpoint") });
  faults.install(dynamodb, "dynamodb");
  faults.install(sqs, "sqs");
  return { dynamodb, sqs };
}

const twoItemTransaction = () =>
  new TransactWriteItemsCommand({
    TransactItems: [
      { Put: { TableName: "never-written", Item: { pk: { S: "a" } } } },
      { Put: { TableName: "never-written", Item: { pk: { S: "b" } } } },
    ],
  });

describe("the fault injector", () => {
  it.each<[DynamoDbFault, new (...args: never[]) => Error, number]>([
    ["throttling", ThrottlingException, 400],
    ["provisioned-throughput", ProvisionedThroughputExceededException, 400],
    ["request-limit", RequestLimitExceeded, 400],
    ["internal-error", InternalServerError, 500],
  ])(
    "DynamoDB %s reaches the caller as the SDK's %o (HTTP %i), classed unavailable",
    async (fault, type, status) => {
      const faults = createFaultInjector();
      const { dynamodb } = singleShotClients(faults);
      faults.arm({ service: "dynamodb", operation: "ListTables", fault, times: 1 });
      const err = await dynamodb.send(new ListTablesCommand({})).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(type);
      expect(err).toMatchObject({ $metadata: { httpStatusCode: status } });
      expect(isUnavailableError(err)).toBe(true);
      dynamodb.destroy();
    },
  );

  it("a 503 from DynamoDB is a server fault, classed unavailable", async () => {
    const faults = createFaultInjector();
    const { dynamodb } = singleShotClients(faults);
    faults.arm({ service: "dynamodb", fault: "service-unavailable", times: 1 });
    const err = await dynamodb.send(new ListTablesCommand({})).catch((e: unknown) => e);
    expect(err).toMatchObject({ $fault: "server", $metadata: { httpStatusCode: 503 } });
    expect(isUnavailableError(err)).toBe(true);
    dynamodb.destroy();
  });

  it.each<[DynamoDbFault, string]>([
    ["transaction-conflict", "TransactionConflict"],
    ["transaction-throttled", "ThrottlingError"],
  ])("%s cancels a TransactWriteItems with one reason per item (%s first)", async (fault, code) => {
    const faults = createFaultInjector();
    const { dynamodb } = singleShotClients(faults);
    faults.arm({ service: "dynamodb", fault, times: 1 });
    const err = await dynamodb.send(twoItemTransaction()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransactionCanceledException);
    expect((err as TransactionCanceledException).CancellationReasons?.map((r) => r.Code)).toEqual([
      code,
      "None",
    ]);
    expect(isTransientCancellation(err)).toBe(true);
    dynamodb.destroy();
  });

  it.each<[SqsFault, string, number]>([
    ["sqs-internal-error", "InternalError", 500],
    ["sqs-service-unavailable", "ServiceUnavailable", 503],
    ["sqs-throttled", "RequestThrottled", 403],
  ])("SQS %s reaches the caller as %s (HTTP %i), classed unavailable", async (fault, name, status) => {
    const faults = createFaultInjector();
    const { sqs } = singleShotClients(faults);
    faults.arm({ service: "sqs", operation: "SendMessage", fault, times: 1 });
    const err = await sqs
      .send(
        new SendMessageCommand({ QueueUrl: `${inject("sqsEndpoint")}/000000000000/none`, MessageBody: "x" }),
      )
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ name, $metadata: { httpStatusCode: status } });
    if (fault === "sqs-throttled") expect(err).toBeInstanceOf(RequestThrottled);
    expect(isUnavailableError(err)).toBe(true);
    sqs.destroy();
  });

  it("fires on exactly the next `times` matching attempts; the SDK retries through them", async () => {
    const faults = createFaultInjector();
    // The project's clients: standard retry mode, 4 attempts.
    const clients = createAwsClients(loadConfig(testEnv("faults-unit")), { faults });
    const other = faults.arm({
      service: "sqs",
      operation: "SendMessage",
      fault: "sqs-internal-error",
      times: 1,
    });
    const rule = faults.arm({
      service: "dynamodb",
      operation: "ListTables",
      fault: "internal-error",
      times: 5,
    });

    // 4 attempts, 4 faults: the SDK gives up and the 500 surfaces.
    const first = await clients.dynamodb.send(new ListTablesCommand({})).catch((e: unknown) => e);
    expect(first).toBeInstanceOf(InternalServerError);
    expect(first).toMatchObject({ $metadata: { attempts: 4 } });
    // The fifth fault costs the next call one retry; then the rule is spent.
    expect((await clients.dynamodb.send(new ListTablesCommand({}))).$metadata.attempts).toBe(2);
    expect((await clients.dynamodb.send(new ListTablesCommand({}))).$metadata.attempts).toBe(1);

    expect(rule).toMatchObject({ fired: 5, remaining: 0 });
    expect(other).toMatchObject({ fired: 0, remaining: 1 });
    expect(faults.snapshot()).toEqual({ "dynamodb:ListTables:internal-error": 5 });
    destroyAwsClients(clients);
  });

  it("the SDK survives two throttles with its own backoff, but leaves a cancelled transaction to us", async () => {
    const faults = createFaultInjector();
    const clients = createAwsClients(loadConfig(testEnv("faults-unit")), { faults });
    faults.arm({ service: "dynamodb", operation: "ListTables", fault: "throttling", times: 2 });
    expect((await clients.dynamodb.send(new ListTablesCommand({}))).$metadata.attempts).toBe(3);

    faults.arm({ service: "dynamodb", fault: "transaction-conflict", times: 1 });
    const cancelled = await clients.dynamodb.send(twoItemTransaction()).catch((e: unknown) => e);
    expect(cancelled).toBeInstanceOf(TransactionCanceledException);
    expect(cancelled).toMatchObject({ $metadata: { attempts: 1 } });
    destroyAwsClients(clients);
  });

  it("with a seed, `probability` picks the same calls every run", async () => {
    async function pattern(seed: number): Promise<boolean[]> {
      const faults = createFaultInjector({ seed });
      const { dynamodb } = singleShotClients(faults);
      faults.arm({ service: "dynamodb", operation: "ListTables", fault: "internal-error", probability: 0.5 });
      const failed: boolean[] = [];
      for (let i = 0; i < 24; i++) {
        failed.push(
          await dynamodb.send(new ListTablesCommand({})).then(
            () => false,
            () => true,
          ),
        );
      }
      expect(faults.total("dynamodb")).toBe(failed.filter(Boolean).length);
      dynamodb.destroy();
      return failed;
    }
    const a = await pattern(42);
    expect(await pattern(42)).toEqual(a);
    expect(a).toContain(true);
    expect(a).toContain(false);
    expect(await pattern(7)).not.toEqual(a);
  });

  it("rejects a rule that cannot fire", () => {
    const faults = createFaultInjector();
    expect(() =>
      faults.arm({ service: "dynamodb", operation: "PutItem", fault: "transaction-conflict" }),
    ).toThrow(RangeError);
    expect(() => faults.arm({ service: "sqs", fault: "sqs-throttled", probability: 2 })).toThrow(RangeError);
    expect(() => faults.arm({ service: "sqs", fault: "sqs-throttled", times: 1.5 })).toThrow(RangeError);
  });
});

describe("transient AWS faults during transfers", () => {
  const faults = createFaultInjector({ seed: 3 });
  /** Every message the roles hand to the bus, sent or not. */
  const sent: Sent[] = [];
  let stack: Stack;
  let seeded = 0;

  beforeAll(async () => {
    stack = await startStack({
      faults,
      wrapBus: (bus) =>
        dropping(bus, (message) => {
          sent.push(message);
          return false;
        }),
    });
  });
  afterAll(() => stack?.stop());
  afterEach(() => faults.clear());

  /** Two fresh accounts on bank-1 and bank-2 and a transfer of `amount` between them. */
  async function accounts(name: string, amount: number) {
    const from = `${name}-from`;
    const to = `${name}-to`;
    await stack.seed("bank-1", from, 1_000);
    await stack.seed("bank-2", to, 0);
    seeded += 1_000;
    return {
      from,
      to,
      ops: [
        { server_id: "bank-1", account_id: from, operation: "withdraw", amount },
        { server_id: "bank-2", account_id: to, operation: "deposit", amount },
      ],
    };
  }

  async function expectBalances(from: string, fromBalance: number, to: string, toBalance: number) {
    expect(await stack.account("bank-1", from)).toMatchObject({ balance: fromBalance });
    expect(await stack.account("bank-2", to)).toMatchObject({ balance: toBalance });
  }

  /** Conservation, no lock held, no barrier left prepared, every participant agreeing with its decision. */
  async function expectInvariants() {
    expect(await bankState(stack)).toEqual({
      total: seeded,
      negative: [],
      locked: [],
      held: [],
      prepared: [],
    });
    await expectAgreement(stack);
  }

  const key = (id: string) => ({ "Idempotency-Key": id });
  /** How many `type` messages for transaction `id` the roles handed the bus for `to`. */
  const messages = (to: string, type: string, id: string) =>
    sent.filter((s) => s.to === to && s.message.type === type && s.message.txId === id).length;
  /** Calls whose request names `text` (a transaction id, an item key). */
  const mentions =
    (text: string) =>
    (call: FaultCall): boolean =>
      JSON.stringify(call.input ?? null).includes(text);
  /** SendMessage calls carrying a `type` message of transaction `id`. */
  const sends =
    (type: string, id: string) =>
    (call: FaultCall): boolean => {
      const body = (call.input as { MessageBody?: unknown } | undefined)?.MessageBody;
      if (typeof body !== "string") return false;
      const message = JSON.parse(body) as { type?: string; txId?: string };
      return message.type === type && message.txId === id;
    };
  /** A participant's TransactWriteItems for `id`: the prepare puts the barrier, the commit updates it. */
  /**
   * Transactions that write `server`'s barrier for `id`: its prepare (the barrier put), or its
   * commit (the barrier moved to committed, alone or with the decision it was written with).
   */
  const transact =
    (server: string, id: string, kind: "prepare" | "commit") =>
    (call: FaultCall): boolean => {
      const items = (call.input as { TransactItems?: Record<string, unknown>[] } | undefined)?.TransactItems;
      const barrier = items?.find((item) => JSON.stringify(item).includes(`barrier#${server}#${id}`));
      if (!barrier) return false;
      return kind === "prepare" ? "Put" in barrier : JSON.stringify(barrier).includes(":committed");
    };
  /**
   * One PREPARE reached bank-1 and at most one COMMIT (none when its commit was written with
   * the decision its vote made), and nothing was sent again: the faults were absorbed on the way.
   */
  async function expectDeliveredOnce(id: string) {
    expect(messages("bank-1", "prepare", id)).toBe(1);
    expect(messages("bank-1", "commit", id)).toBeLessThanOrEqual(1);
    const { events } = await stack.client.get(id);
    expect(events.filter((e) => e.type === "prepare_resent" || e.type === "decision_resent")).toEqual([]);
  }

  it("ThrottlingException on the transaction's PutItem and GetItem: the SDK's backoff absorbs them", async () => {
    const id = `throttled-${randomUUID()}`;
    const { from, to, ops } = await accounts(id, 300);
    const put = faults.arm({
      service: "dynamodb",
      operation: "PutItem",
      fault: "throttling",
      times: 2,
      match: mentions(id),
    });
    const get = faults.arm({
      service: "dynamodb",
      operation: "GetItem",
      fault: "throttling",
      times: 2,
      match: mentions(id),
    });
    const view = await stack.transfer(ops, 10_000, key(id));
    expect(view.status).toBe("committed");
    await stack.settle(id);
    expect([put.fired, get.fired]).toEqual([2, 2]);
    await expectBalances(from, 700, to, 300);
    await expectInvariants();
  });

  it("ProvisionedThroughputExceeded on the participants' BatchGetItem: they still vote yes", async () => {
    const id = `capacity-${randomUUID()}`;
    const { from, to } = await accounts(id, 250);
    const reads = faults.arm({
      service: "dynamodb",
      operation: "BatchGetItem",
      fault: "provisioned-throughput",
      times: 2,
      match: mentions(id),
    });
    // Branches that pin their accounts' versions are read before they are prepared
    // (a plain withdraw or deposit is written without a read: it declares its moves).
    const view = await stack.client.begin(
      {
        id,
        protocol: "2pc",
        branches: [
          {
            participant: "bank-1",
            action: "withdraw",
            input: { account: from, amount: 250, expectedVersion: 1 },
          },
          {
            participant: "bank-2",
            action: "deposit",
            input: { account: to, amount: 250, expectedVersion: 1 },
          },
        ],
      },
      { wait: 10_000 },
    );
    expect(view.status).toBe("committed");
    expect(view.branches.map((b) => b.vote)).toEqual(["yes", "yes"]);
    await stack.settle(id);
    expect(reads.fired).toBe(2);
    await expectBalances(from, 750, to, 250);
    await expectInvariants();
  });

  it("InternalServerError (500) on TransactWriteItems: retried by the SDK, the transfer commits", async () => {
    const id = `ise-${randomUUID()}`;
    const { from, to, ops } = await accounts(id, 100);
    const writes = faults.arm({
      service: "dynamodb",
      operation: "TransactWriteItems",
      fault: "internal-error",
      times: 3,
      match: mentions(id),
    });
    const view = await stack.transfer(ops, 10_000, key(id));
    expect(view.status).toBe("committed");
    await stack.settle(id);
    expect(writes.fired).toBe(3);
    await expectDeliveredOnce(id);
    await expectBalances(from, 900, to, 100);
    await expectInvariants();
  });

  it("TransactionConflict cancels bank-1's prepare 3 times and throttling its commit twice: the store's retry commits", async () => {
    const id = `conflict-${randomUUID()}`;
    const { from, to, ops } = await accounts(id, 40);
    // The SDK never retries a cancelled transaction (see above): every retry here is the store's.
    const prepare = faults.arm({
      service: "dynamodb",
      fault: "transaction-conflict",
      times: 3,
      match: transact("bank-1", id, "prepare"),
    });
    const commit = faults.arm({
      service: "dynamodb",
      fault: "transaction-throttled",
      times: 2,
      match: transact("bank-1", id, "commit"),
    });
    const view = await stack.transfer(ops, 10_000, key(id));
    expect(view.status).toBe("committed");
    expect(view.branches.map((b) => b.vote)).toEqual(["yes", "yes"]);
    await stack.settle(id);
    expect([prepare.fired, commit.fired]).toEqual([3, 2]);
    // Absorbed inside the store (the participant's, or the record's when it wrote bank-1's commit).
    await expectDeliveredOnce(id);
    await expectBalances(from, 960, to, 40);
    await expectInvariants();
  });

  it("a conflict that outlasts the store's 5 attempts surfaces as TransientStoreError and writes nothing", async () => {
    const id = `outlasting-${randomUUID()}`;
    const { from } = await accounts(id, 1);
    const { topology } = stack.config;
    const store = createDynamoDbParticipantStore({
      model: bankModel,
      doc: stack.runtime.clients.doc,
      tableName: physicalName(topology, topology.tables.bank.name),
      retentionSeconds: 3600,
    });
    const rule = faults.arm({
      service: "dynamodb",
      fault: "transaction-conflict",
      times: 5,
      match: transact("bank-1", id, "prepare"),
    });
    const account = await stack.account("bank-1", from);
    const barrier = {
      participant: "bank-1",
      txId: id,
      state: "prepared" as const,
      planned: [{ id: from, version: account.version, next: { balance: account.balance - 1 } }],
      createdAt: Date.now(),
    };
    const err = await store.prepare(barrier, Date.now()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientStoreError);
    expect(err).toMatchObject({ attempts: 5 });
    expect((err as Error).cause).toBeInstanceOf(TransactionCanceledException);
    expect(rule.fired).toBe(5);
    expect(await store.getBarrier("bank-1", id)).toBeUndefined();
    expect((await stack.account("bank-1", from)).lockedBy).toBeUndefined();
    await expectInvariants();
  });

  it("the write of a vote with its prepare fails past its retries: the participant prepares on its own, in the same delivery", async () => {
    const id = `own-prepare-${randomUUID()}`;
    const { from, to, ops } = await accounts(id, 7);
    const rule = faults.arm({
      service: "dynamodb",
      fault: "transaction-conflict",
      times: 5,
      match: transact("bank-1", id, "prepare"),
    });
    const view = await stack.transfer(ops, 10_000, key(id));
    expect(view.status).toBe("committed");
    await stack.settle(id);
    expect(rule.fired).toBe(5);
    await expectDeliveredOnce(id);
    await expectBalances(from, 993, to, 7);
    await expectInvariants();
  });

  it("the same, end to end: the failed PREPARE comes back and the transfer commits", async () => {
    const id = `redelivered-${randomUUID()}`;
    const { from, to, ops } = await accounts(id, 5);
    // Five for the write of its vote with its prepare, five for the prepare it then writes on its own.
    const rule = faults.arm({
      service: "dynamodb",
      fault: "transaction-conflict",
      times: 10,
      match: transact("bank-1", id, "prepare"),
    });
    const view = await stack.transfer(ops, 10_000, key(id));
    expect(view.status).toBe("committed");
    const done = await stack.settle(id);
    expect(rule.fired).toBe(10);
    // The first delivery failed; the sweeper's PREPARE (or the queue's redelivery) got the vote.
    expect(done.events.map((e) => e.type)).toContain("prepare_resent");
    await expectBalances(from, 995, to, 5);
    await expectInvariants();
  });

  it("DynamoDB down for the API's PutItem: 503 unavailable with Retry-After, and nothing changes", async () => {
    const id = `down-${randomUUID()}`;
    const { from, to, ops } = await accounts(id, 60);
    const before = await Promise.all([stack.account("bank-1", from), stack.account("bank-2", to)]);
    const down = faults.arm({
      service: "dynamodb",
      operation: "PutItem",
      fault: "internal-error",
      match: mentions(id),
    });
    const res = await stack.request("POST", "/v1/transfers?wait=2000", ops, key(id));
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("1");
    expect(await res.json()).toEqual({ error: { code: "unavailable", message: expect.any(String) } });
    // The three writes made together (the record and its two participants' index items)
    // each failed, and none was tried more often than the SDK's 4 attempts.
    expect(down.fired).toBeGreaterThanOrEqual(3);
    expect(down.fired).toBeLessThanOrEqual(3 * 4);
    expect((await stack.request("GET", `/v1/transactions/${id}`)).status).toBe(404);
    expect(sent.filter((s) => s.message.txId === id)).toEqual([]);
    expect(await Promise.all([stack.account("bank-1", from), stack.account("bank-2", to)])).toEqual(before);
    await expectInvariants();

    // Once DynamoDB is back, the client's retry with the same key runs it once.
    down.disarm();
    const view = await stack.transfer(ops, 10_000, key(id));
    expect(view.status).toBe("committed");
    await stack.settle(id);
    await expectBalances(from, 940, to, 60);
    await expectInvariants();
  });

  it("DynamoDB unavailable for a read: 503 unavailable, not a 500", async () => {
    const id = `read-${randomUUID()}`;
    const { from } = await accounts(id, 1);
    const down = faults.arm({
      service: "dynamodb",
      operation: "GetItem",
      fault: "service-unavailable",
      match: mentions(`account#bank-1#${from}`),
    });
    const res = await stack.request("GET", `/v1/bank/bank-1/accounts/${from}`);
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("1");
    expect(await res.json()).toMatchObject({ error: { code: "unavailable" } });
    expect(down.fired).toBe(4);
    down.disarm();
    expect(await stack.account("bank-1", from)).toMatchObject({ balance: 1_000 });
  });

  it("SendMessage of the COMMITs fails past the SDK's retries: the sweeper sends them again", async () => {
    const id = `lost-commit-${randomUUID()}`;
    const { from, to, ops } = await accounts(id, 70);
    // 4 attempts per send, 2 participants: both first COMMITs fail outright.
    const lost = faults.arm({
      service: "sqs",
      operation: "SendMessage",
      fault: "sqs-internal-error",
      times: 8,
      match: sends("commit", id),
    });
    const view = await stack.transfer(ops, 10_000, key(id));
    // The decision is durable before any COMMIT leaves, so the client hears it at once.
    expect(view.status).toBe("committed");
    const done = await stack.settle(id);
    expect(lost.fired).toBe(8);
    expect(done.events.map((e) => e.type)).toContain("decision_resent");
    await expectBalances(from, 930, to, 70);
    await expectInvariants();
  });

  it("SendMessage of the PREPAREs fails at the API: the sweeper sends them again and the transfer commits", async () => {
    const id = `lost-prepare-${randomUUID()}`;
    const { from, to, ops } = await accounts(id, 80);
    const lost = faults.arm({
      service: "sqs",
      operation: "SendMessage",
      fault: "sqs-internal-error",
      times: 8,
      match: sends("prepare", id),
    });
    const view = await stack.transfer(ops, 10_000, key(id));
    expect(view.status).toBe("committed");
    const done = await stack.settle(id);
    expect(lost.fired).toBe(8);
    expect(done.events.map((e) => e.type)).toContain("prepare_resent");
    await expectBalances(from, 920, to, 80);
    await expectInvariants();
  });
});
