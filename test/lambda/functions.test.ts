/**
 * The deployable bundles (`npm run build`), built once for this file:
 *
 * - what each holds: only its role's code, small;
 * - driven through their Lambda entry points: the API by function-URL events, the
 *   coordinator and participants by SQS batches answered with batchItemFailures, the
 *   sweeper by a scheduled event. They run the same wiring and use cases as the local
 *   runtime, against the same emulators, with nothing but the environment the stack
 *   sets to tell them where they are.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { SendMessageCommand } from "@aws-sdk/client-sqs";
import type { Context, SQSBatchResponse, SQSEvent } from "aws-lambda";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { bundleName } from "../../infra/cdk/bundles.ts";
import { COORDINATOR_QUEUE, DISPATCHER_QUEUE, participantQueue } from "../../infra/topology.ts";
import { verifySignature } from "../../packages/participant/src/signature.ts";
import { functionEntries } from "../../scripts/bundle.ts";
import { type AwsClients, createAwsClients, destroyAwsClients } from "../../src/adapters/aws-clients.ts";
import { loadConfig } from "../../src/config.ts";
import { provision, type QueueUrls } from "../../src/local/provision.ts";
import { toRecord } from "../../src/local/sqs-poller.ts";
import { eventually, testEnv } from "../helpers/stack.ts";
import {
  type Bundles,
  buildBundles,
  coldStart,
  deliver,
  queueUrlIn,
  type ScheduledEntry,
  type SqsEntry,
  scheduledEvent,
  type UrlEntry,
  urlEvent,
} from "./lambda-harness.ts";

const SERVERS = ["bank-1", "bank-2"];
const prefix = `l${crypto.randomUUID().slice(0, 10)}`;
// What the stack would set (see infra/cdk/function-environment.ts), pointed at the emulators.
const env = testEnv(prefix, {
  CONCORD_BANK_SERVERS: SERVERS.join(","),
  CONCORD_DEFAULT_TIMEOUT_MS: "1500",
  CONCORD_IN_DOUBT_AFTER_MS: "200",
  // One pass per scheduled event: these tests drive the schedule themselves (timer-lateness.test.ts passes through a run).
  CONCORD_SCHEDULED_RUN_SECONDS: "0",
  // The HTTP participant of the dispatcher test listens on 127.0.0.1.
  CONCORD_HTTP_PARTICIPANT_ALLOW_PRIVATE: "true",
  // The batch test feeds a message that is not JSON on purpose; its error log is expected.
  CONCORD_LOG_LEVEL: "SILENT",
});

let bundles: Bundles;
let clients: AwsClients;
let queueUrls: QueueUrls;
let api: UrlEntry;
let coordinator: SqsEntry;
const participants = new Map<string, ParticipantEntry>();
let sweeper: ScheduledEntry;
let dispatcher: SqsEntry;
type ParticipantEntry = SqsEntry & ScheduledEntry;

const bundle = (name: string) => bundles.get(name);
const queueUrl = (logical: string): string => queueUrlIn(queueUrls, logical);

beforeAll(async () => {
  const config = loadConfig(env);
  clients = createAwsClients(config);
  [bundles, queueUrls] = await Promise.all([
    buildBundles(),
    provision(config.topology, clients, { visibilityTimeoutSeconds: 1 }),
  ]);
  api = await coldStart<UrlEntry>(bundle("api"), env, "api");
  coordinator = await coldStart<SqsEntry>(bundle("coordinator"), env, "coordinator");
  for (const server of SERVERS) {
    const entry = await coldStart<ParticipantEntry>(
      bundle("participant"),
      { ...env, CONCORD_PARTICIPANT: server },
      server,
    );
    participants.set(server, entry);
  }
  sweeper = await coldStart<ScheduledEntry>(bundle("sweeper"), env, "sweeper");
  dispatcher = await coldStart<SqsEntry>(bundle("dispatcher"), env, "dispatcher");
});

afterAll(() => {
  destroyAwsClients(clients);
  bundles.remove();
});

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const response = await api(urlEvent(method, path, body, headers));
  return { status: response.statusCode, body: JSON.parse(response.body ?? "null") };
}

/** Messages a test left failing on purpose: they come back until dead-lettered, and are not news. */
const knownFailures = new Set<string>();

/** Messages the coordinator function was handed, over every round so far. */
let coordinatorReceived = 0;

/** Every queue-triggered function gets one batch, as Lambda's pollers would give it. */
async function deliverRound(): Promise<number> {
  let received = 0;
  for (const [server, entry] of participants) {
    const delivery = await deliver(clients.sqs, queueUrl(participantQueue(server)), entry);
    expect(delivery.failed.filter((id) => !knownFailures.has(id))).toEqual([]);
    received += delivery.received;
  }
  const delivery = await deliver(clients.sqs, queueUrl(COORDINATOR_QUEUE), coordinator);
  expect(delivery.failed).toEqual([]);
  coordinatorReceived += delivery.received;
  return received + delivery.received;
}

describe("what each bundle holds", () => {
  const inputsOf = (name: string): string[] =>
    Object.values(bundle(name).metafile.outputs).flatMap((o) => Object.keys(o.inputs));
  const holds = (name: string, fragment: string) => inputsOf(name).some((path) => path.includes(fragment));
  const names = functionEntries().map(bundleName);

  /** Code that belongs to exactly one role. */
  const OWN_CODE: Record<string, string[]> = {
    api: ["src/api/app.ts", "node_modules/hono/"],
    coordinator: ["src/handlers/sqs-grouped-batch.ts"],
    participant: ["src/participants/built-in.ts", "src/participant-kit/two-phase-participant.ts"],
    sweeper: ["src/coordinator/sweeper.ts"],
    dispatcher: ["src/http-participants/dispatcher.ts", "src/http-participants/http-call.ts"],
  };

  it("has one bundle per entry in functions/, one role each", () => {
    expect(names.sort()).toEqual(Object.keys(OWN_CODE).sort());
  });

  it.each(Object.entries(OWN_CODE))("only the %s bundle holds that role's own code", (owner, fragments) => {
    for (const fragment of fragments) {
      for (const name of names)
        expect(holds(name, fragment), `${name} bundle, ${fragment}`).toBe(name === owner);
    }
  });

  it("gives the Secrets Manager client only to the functions that read a secret: the API (its keys) and the dispatcher (its signing secret)", () => {
    for (const name of names)
      expect(holds(name, "node_modules/@aws-sdk/client-secrets-manager/"), name).toBe(
        name === "api" || name === "dispatcher",
      );
  });

  it("holds the coordinator's message handling where answers are applied: the coordinator, participant and dispatcher bundles", () => {
    // Participants and the dispatcher apply their own answers (direct answers); the API and the sweeper never answer.
    for (const name of names)
      expect(holds(name, "src/coordinator/coordinator.ts"), name).toBe(
        ["coordinator", "participant", "dispatcher"].includes(name),
      );
  });

  it("keeps every bundle under 720 KiB (each was 1.1 MB when it held every role)", () => {
    // The API's is the largest, at about 701 KiB: the SDK's DynamoDB and SQS clients, Hono, zod, the OpenAPI document.
    for (const name of names) expect(bundle(name).bytes, name).toBeLessThan(720 * 1024);
  });

  it("counts metrics with Powertools (embedded metrics), never with the local Prometheus registry", () => {
    for (const name of names) {
      expect(holds(name, "node_modules/@aws-lambda-powertools/metrics/"), name).toBe(true);
      expect(holds(name, "node_modules/prom-client/"), name).toBe(false);
    }
  });

  it("bundles the AWS SDK, and of zod's locales only English", () => {
    for (const name of names) {
      expect(holds(name, "node_modules/@aws-sdk/client-dynamodb/"), name).toBe(true);
      const locales = inputsOf(name).filter((path) => path.includes("zod/v4/locales/"));
      expect(
        locales.every((path) => path.endsWith("/en.js")),
        `${name}: ${locales.join(", ")}`,
      ).toBe(true);
    }
  });
});

describe("Lambda entry points over the emulators", () => {
  it("commits a transfer: function URL in, SQS-triggered participants answering directly, function URL out", async () => {
    expect((await call("PUT", "/v1/bank/bank-1/accounts/alice", { balance: 1000 })).status).toBe(200);
    expect((await call("PUT", "/v1/bank/bank-2/accounts/bob", { balance: 0 })).status).toBe(200);
    const started = await call(
      "POST",
      "/v1/transfers?wait=0",
      [
        { server_id: "bank-1", account_id: "alice", operation: "withdraw", amount: 100 },
        { server_id: "bank-2", account_id: "bob", operation: "deposit", amount: 100 },
      ],
      { "idempotency-key": `lambda-${prefix}` },
    );
    expect(started.status).toBe(202);
    expect(started.body.status).toBe("pending");

    const done = await eventually(
      async () => {
        await deliverRound();
        const view = await call("GET", `/v1/transactions/lambda-${prefix}`);
        return view.body.completedAt ? view.body : undefined;
      },
      15_000,
      "the transfer to complete",
    );
    expect(done).toMatchObject({ status: "committed", phase: "committed" });
    // The votes and acks were applied by the participant functions: none reached the coordinator's.
    expect(coordinatorReceived).toBe(0);
    expect((await call("GET", "/v1/bank/bank-1/accounts/alice")).body.balance).toBe(900);
    expect((await call("GET", "/v1/bank/bank-2/accounts/bob")).body.balance).toBe(100);
  });

  it("answers an SQS batch with only the record that must come back in batchItemFailures", async () => {
    const participant = participants.get("bank-1") as SqsEntry;
    const bodies = {
      // Valid: a ROLLBACK for a transaction it never saw writes a rolled_back barrier.
      rollback: JSON.stringify({ type: "rollback", txId: `gone-${prefix}`, participant: "bank-1" }),
      // Contradicts the barrier (never prepared): retried, then dead-lettered, never applied.
      commit: JSON.stringify({ type: "commit", txId: `never-prepared-${prefix}`, participant: "bank-1" }),
      // Can never parse: logged and dropped, not retried.
      garbage: "{not json",
    };
    for (const body of Object.values(bodies)) {
      await clients.sqs.send(
        new SendMessageCommand({ QueueUrl: queueUrl(participantQueue("bank-1")), MessageBody: body }),
      );
    }
    const ids = new Map<string, string>();
    const recording: SqsEntry = (event) => {
      for (const record of event.Records) ids.set(record.body, record.messageId);
      return participant(event);
    };
    const delivery = await deliver(clients.sqs, queueUrl(participantQueue("bank-1")), recording);
    expect(delivery.received).toBe(3);
    expect(delivery.failed).toEqual([ids.get(bodies.commit)]);
    for (const id of delivery.failed) knownFailures.add(id);
  });

  it("lets the scheduled sweeper abort a transaction whose participants never answered", async () => {
    const started = await call(
      "POST",
      "/v1/transfers?wait=0",
      [
        { server_id: "bank-1", account_id: "carol", operation: "deposit", amount: 5 },
        { server_id: "bank-2", account_id: "dave", operation: "deposit", amount: 5 },
      ],
      { "idempotency-key": `silent-${prefix}` },
    );
    expect(started.status).toBe(202);
    // Nobody delivers the PREPAREs; past the 1.5 s deadline the schedule fires.
    const aborted = await eventually(
      async () => {
        await sweeper(scheduledEvent());
        const view = await call("GET", `/v1/transactions/silent-${prefix}`);
        return view.body.status === "pending" ? undefined : view.body;
      },
      10_000,
      "the sweeper to decide",
    );
    expect(aborted).toMatchObject({ status: "aborted", reason: "timeout" });
  });
});

describe("a participant's scheduled in-doubt check", () => {
  it("asks the coordinator again when its votes were lost, and the transfer completes", async () => {
    // Answers through the coordinator queue, so that the votes can be lost on the way there.
    const queued = new Map<string, ParticipantEntry>();
    for (const server of SERVERS) {
      queued.set(
        server,
        await coldStart<ParticipantEntry>(
          bundle("participant"),
          { ...env, CONCORD_PARTICIPANT: server, CONCORD_QUEUED_ANSWERS: "true" },
          `${server}-queued`,
        ),
      );
    }
    await call("PUT", "/v1/bank/bank-1/accounts/frank", { balance: 50 });
    await call("PUT", "/v1/bank/bank-2/accounts/grace", { balance: 0 });
    const id = `in-doubt-${prefix}`;
    const started = await call(
      "POST",
      "/v1/transfers?wait=0",
      [
        { server_id: "bank-1", account_id: "frank", operation: "withdraw", amount: 50 },
        { server_id: "bank-2", account_id: "grace", operation: "deposit", amount: 50 },
      ],
      { "idempotency-key": id },
    );
    expect(started.status).toBe(202);
    // The participants prepare and vote yes; every vote is lost on the way.
    for (const [server, entry] of queued)
      await deliver(clients.sqs, queueUrl(participantQueue(server)), entry);
    const dropAll: SqsEntry = async () => ({ batchItemFailures: [] });
    const lost = await deliver(clients.sqs, queueUrl(COORDINATOR_QUEUE), dropAll);
    expect(lost.received).toBeGreaterThanOrEqual(2);
    await new Promise((resolve) => setTimeout(resolve, 300));

    // The rule fires: each participant finds its barrier still prepared and asks again.
    for (const entry of queued.values()) expect(await entry(scheduledEvent())).toBeUndefined();
    const view = await eventually(
      async () => {
        await deliverRound();
        const v = await call("GET", `/v1/transactions/${id}`);
        return v.body.completedAt ? v.body : undefined;
      },
      10_000,
      "the in-doubt transfer to complete",
    );
    expect(view.status).toBe("committed");
    expect((await call("GET", "/v1/bank/bank-2/accounts/grace")).body.balance).toBe(50);
  });
});

describe("the participant entry, as an e-commerce participant", () => {
  it("runs the participant CONCORD_PARTICIPANT names: a saga action on inventory, answered with its result", async () => {
    // Its answer through the coordinator queue, where the test reads it (no record here to apply it to).
    const inventory = await coldStart<SqsEntry>(
      bundle("participant"),
      { ...env, CONCORD_PARTICIPANT: "inventory", CONCORD_QUEUED_ANSWERS: "true" },
      "inventory",
    );
    expect((await call("PUT", "/v1/inventory/widget", { stock: 5 })).status).toBe(200);
    const txId = `saga-${prefix}`;
    const action = {
      type: "action",
      txId,
      participant: "inventory",
      branch: 0,
      action: "reserve",
      input: { sku: "widget", quantity: 2 },
      deadline: Date.now() + 60_000,
      startedAt: Date.now(),
    };
    await clients.sqs.send(
      new SendMessageCommand({
        QueueUrl: queueUrl(participantQueue("inventory")),
        MessageBody: JSON.stringify(action),
      }),
    );
    const delivery = await deliver(clients.sqs, queueUrl(participantQueue("inventory")), inventory);
    expect(delivery).toEqual({ received: 1, failed: [] });
    expect((await call("GET", "/v1/inventory/widget")).body).toEqual({
      sku: "widget",
      stock: 3,
      reserved: 0,
      pending: 0,
      version: 2,
    });

    const results: unknown[] = [];
    const reading: SqsEntry = async (event) => {
      for (const record of event.Records) results.push(JSON.parse(record.body));
      return { batchItemFailures: [] };
    };
    await eventually(
      async () => {
        await deliver(clients.sqs, queueUrl(COORDINATOR_QUEUE), reading);
        return results.some((r) => (r as { txId?: string }).txId === txId) ? true : undefined;
      },
      5_000,
      "the result on the coordinator queue",
    );
    expect(results).toContainEqual({
      type: "result",
      txId,
      participant: "inventory",
      branch: 0,
      step: "action",
      outcome: "done",
    });
  });
});

describe("API keys from the stack's secret", () => {
  let server: Server;
  let secret: string;
  const requests: { target: string | undefined; body: string }[] = [];

  beforeAll(async () => {
    // Secrets Manager's JSON protocol, as much of it as GetSecretValue needs.
    server = createServer((req, res) => {
      let body = "";
      req.on("data", (chunk) => {
        body += chunk;
      });
      req.on("end", () => {
        requests.push({ target: req.headers["x-amz-target"] as string | undefined, body });
        res.writeHead(200, { "content-type": "application/x-amz-json-1.1" });
        res.end(
          JSON.stringify({ ARN: "arn:aws:secretsmanager:us-east-1:1:secret:keys", SecretString: secret }),
        );
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  });

  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const withSecret = () => ({
    ...env,
    CONCORD_API_KEYS_SECRET: "arn:aws:secretsmanager:us-east-1:1:secret:keys",
    AWS_ENDPOINT_URL_SECRETS_MANAGER: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
  });

  it("reads the keys once at cold start and refuses requests without them", async () => {
    secret = JSON.stringify({ adminKeys: "admin-key-1", apiKeys: "client-key-1" });
    const handler = await coldStart<UrlEntry>(bundle("api"), withSecret(), "api-with-secret");
    expect(requests).toEqual([
      { target: "secretsmanager.GetSecretValue", body: expect.stringContaining('"SecretId":"arn:aws:') },
    ]);
    const get = (headers: Record<string, string>) =>
      handler(urlEvent("GET", "/v1/bank/bank-1/accounts/alice", undefined, headers));
    expect((await get({})).statusCode).toBe(401);
    expect((await get({ authorization: "Bearer client-key-1" })).statusCode).toBe(200);
    const seed = urlEvent(
      "PUT",
      "/v1/bank/bank-1/accounts/erin",
      { balance: 1 },
      { authorization: "Bearer client-key-1" },
    );
    expect((await handler(seed)).statusCode).toBe(403);
    expect(requests).toHaveLength(1);
  });

  it("does not start when the secret holds no key: an API without keys would be open", async () => {
    secret = JSON.stringify({ adminKeys: "", apiKeys: "" });
    await expect(coldStart<UrlEntry>(bundle("api"), withSecret(), "api-no-keys")).rejects.toThrow(
      /no API key/,
    );
  });
});

describe("the dispatcher entry", () => {
  let service: Server;
  let serviceUrl = "";
  const seen: string[] = [];
  const signed: { path: string; body: string; signature: string | undefined }[] = [];

  beforeAll(async () => {
    service = createServer((req, res) => {
      seen.push(req.url ?? "");
      let body = "";
      req.on("data", (chunk) => {
        body += chunk;
      });
      req.on("end", () => {
        signed.push({
          path: req.url ?? "",
          body,
          signature: req.headers["concord-signature"] as string | undefined,
        });
        res.writeHead(200, { "content-type": "application/json" }).end("{}");
      });
    });
    await new Promise<void>((resolve) => service.listen(0, "127.0.0.1", resolve));
    serviceUrl = `http://127.0.0.1:${(service.address() as AddressInfo).port}`;
  });
  afterAll(
    () =>
      new Promise<void>((resolve) => {
        service.close(() => resolve());
        service.closeAllConnections();
      }),
  );

  it("delivers a registered HTTP participant's PREPARE and COMMIT from its queue, and the transfer commits", async () => {
    const registered = await call("POST", "/v1/participants", {
      name: "notary",
      baseUrl: serviceUrl,
      protocols: ["2pc"],
    });
    expect(registered.status).toBe(201);
    await call("PUT", "/v1/bank/bank-1/accounts/hugo", { balance: 70 });
    const id = `http-${prefix}`;
    const started = await call("POST", "/v1/transactions?wait=0", {
      id,
      protocol: "2pc",
      branches: [
        { participant: "bank-1", action: "withdraw", input: { account: "hugo", amount: 20 } },
        { participant: "notary", action: "stamp", input: { document: 7 } },
      ],
    });
    expect(started.status).toBe(202);
    const done = await eventually(
      async () => {
        const delivery = await deliver(clients.sqs, queueUrl(DISPATCHER_QUEUE), dispatcher);
        expect(delivery.failed).toEqual([]);
        await deliverRound();
        const view = await call("GET", `/v1/transactions/${id}`);
        return view.body.completedAt ? view.body : undefined;
      },
      15_000,
      "the transaction with an HTTP participant to complete",
    );
    expect(done).toMatchObject({ status: "committed", phase: "committed" });
    expect(seen).toEqual(["/prepare", "/commit"]);
    expect((await call("GET", "/v1/bank/bank-1/accounts/hugo")).body.balance).toBe(50);
  });

  it("signs its calls with the stack's Secrets Manager secret, read once and kept in the warm function", async () => {
    const SIGNING = "stack-generated-signing-secret-0123456789abcdefghij";
    const reads: string[] = [];
    const secrets = createServer((req, res) => {
      let body = "";
      req.on("data", (chunk) => {
        body += chunk;
      });
      req.on("end", () => {
        reads.push(body);
        res.writeHead(200, { "content-type": "application/x-amz-json-1.1" });
        res.end(
          JSON.stringify({ ARN: "arn:aws:secretsmanager:us-east-1:1:secret:signing", SecretString: SIGNING }),
        );
      });
    });
    await new Promise<void>((resolve) => secrets.listen(0, "127.0.0.1", resolve));
    try {
      const signing = await coldStart<SqsEntry>(
        bundle("dispatcher"),
        {
          ...env,
          CONCORD_HTTP_PARTICIPANT_SECRET_ARN: "arn:aws:secretsmanager:us-east-1:1:secret:signing",
          AWS_ENDPOINT_URL_SECRETS_MANAGER: `http://127.0.0.1:${(secrets.address() as AddressInfo).port}`,
        },
        "dispatcher-signing",
      );
      const registered = await call("POST", "/v1/participants", {
        name: "sealed",
        baseUrl: `${serviceUrl}/sealed`,
        protocols: ["2pc"],
      });
      expect(registered.status).toBe(201);
      for (const txId of [`sealed-1-${prefix}`, `sealed-2-${prefix}`]) {
        await clients.sqs.send(
          new SendMessageCommand({
            QueueUrl: queueUrl(DISPATCHER_QUEUE),
            MessageBody: JSON.stringify({ type: "rollback", txId, participant: "sealed", startedAt: 1 }),
          }),
        );
      }
      await eventually(
        async () => {
          await deliver(clients.sqs, queueUrl(DISPATCHER_QUEUE), signing);
          return signed.filter((c) => c.path === "/sealed/rollback").length >= 2 ? true : undefined;
        },
        15_000,
        "both ROLLBACKs to reach the service",
      );
      for (const call of signed.filter((c) => c.path === "/sealed/rollback")) {
        const check = await verifySignature(
          call.signature,
          { method: "POST", path: call.path, body: call.body },
          [SIGNING],
          Date.now(),
        );
        expect(check).toEqual({ ok: true });
      }
      expect(reads).toHaveLength(1);
      expect(reads[0]).toContain('"SecretId":"arn:aws:secretsmanager:us-east-1:1:secret:signing"');
    } finally {
      await new Promise<void>((resolve) => secrets.close(() => resolve()));
    }
  });

  it("reports a decision for a participant nobody registered in batchItemFailures", async () => {
    const body = JSON.stringify({ type: "commit", txId: `ghost-${prefix}`, participant: "ghost" });
    await clients.sqs.send(
      new SendMessageCommand({ QueueUrl: queueUrl(DISPATCHER_QUEUE), MessageBody: body }),
    );
    const delivery = await deliver(clients.sqs, queueUrl(DISPATCHER_QUEUE), dispatcher);
    expect(delivery.received).toBe(1);
    expect(delivery.failed).toHaveLength(1);
  });
});

describe("log lines on Lambda", () => {
  /** What the Lambda runtime passes a handler beside its event. */
  const lambdaContext = (awsRequestId: string): Context => ({
    callbackWaitsForEmptyEventLoop: true,
    functionName: `${prefix}-dispatcher`,
    functionVersion: "$LATEST",
    invokedFunctionArn: `arn:aws:lambda:us-east-1:123456789012:function:${prefix}-dispatcher`,
    memoryLimitInMB: "512",
    awsRequestId,
    logGroupName: `/aws/lambda/${prefix}-dispatcher`,
    logStreamName: "2026/01/01/[$LATEST]0123456789abcdef",
    getRemainingTimeInMillis: () => 30_000,
    done: () => {},
    fail: () => {},
    succeed: () => {},
  });

  it("carry the invocation's Lambda context (function, request id, cold start), the transaction and its trace", async () => {
    const lines: Record<string, unknown>[] = [];
    // Before the cold start: the logger's console takes the streams' writes when it is made
    // (info lines to stdout, warnings and errors to stderr).
    const capture = (stream: NodeJS.WriteStream) =>
      vi.spyOn(stream, "write").mockImplementation((chunk) => {
        for (const line of String(chunk).split("\n")) if (line.startsWith("{")) lines.push(JSON.parse(line));
        return true;
      });
    const writes = [capture(process.stdout), capture(process.stderr)];
    const traceId = "5bf92f3577b34da6a3ce929d0e0e4737";
    const txId = `logged-${prefix}`;
    // A decision for a participant nobody registered: the dispatcher logs an error, and the batch a retry.
    const event = (): SQSEvent => ({
      Records: [
        toRecord(
          {
            MessageId: crypto.randomUUID(),
            Body: JSON.stringify({ type: "commit", txId, participant: "ghost" }),
            MessageAttributes: {
              traceparent: { DataType: "String", StringValue: `00-${traceId}-00f067aa0ba902b7-01` },
            },
          },
          "arn:aws:sqs:us-east-1:123456789012:dispatcher",
          "us-east-1",
        ),
      ],
    });
    try {
      const logged = await coldStart<
        (event: SQSEvent, context: Context) => Promise<SQSBatchResponse | undefined>
      >(bundle("dispatcher"), { ...env, CONCORD_LOG_LEVEL: "INFO" }, "dispatcher-logged");
      expect((await logged(event(), lambdaContext("request-1")))?.batchItemFailures).toHaveLength(1);
      expect((await logged(event(), lambdaContext("request-2")))?.batchItemFailures).toHaveLength(1);
    } finally {
      for (const write of writes) write.mockRestore();
    }
    const about = lines.filter((l) => l.txId === txId);
    expect(about.map((l) => l.message)).toEqual([
      "message for a participant that is not registered",
      "message failed; it returns after its visibility timeout",
      "message for a participant that is not registered",
      "message failed; it returns after its visibility timeout",
    ]);
    for (const [i, line] of about.entries()) {
      const first = i < 2;
      expect(line).toMatchObject({
        function_name: `${prefix}-dispatcher`,
        function_arn: `arn:aws:lambda:us-east-1:123456789012:function:${prefix}-dispatcher`,
        function_memory_size: "512",
        function_request_id: first ? "request-1" : "request-2",
        // Only the first invocation of the process is a cold start.
        cold_start: first,
        participant: "ghost",
        traceId,
      });
    }
  });
});
