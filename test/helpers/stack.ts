/**
 * A whole concord in this test process, on the shared emulators, with its own
 * tables and queues (a unique prefix) so test files can run side by side.
 */
import { randomUUID } from "node:crypto";
import type { Logger } from "@aws-lambda-powertools/logger";
import { inject } from "vitest";
import { type ConcordClient, createClient, type TransferOperation } from "../../packages/client/src/index.ts";
import type { CallCounter } from "../../src/adapters/call-counter.ts";
import { type Config, loadConfig } from "../../src/config.ts";
import type { TransactionView } from "../../src/core/view.ts";
import { type RoleName, type Runtime, startRuntime } from "../../src/local/runtime.ts";
import type { MessageBus } from "../../src/ports/message-bus.ts";
import { sleep } from "../../src/timers.ts";
import type { FaultInjector } from "../../testkit/faults/fault-injection.ts";
import { silentLogger } from "../../testkit/logging.ts";
import { scanTable } from "../../testkit/scan-table.ts";

export interface StackOptions {
  readonly bankServers?: readonly string[];
  readonly env?: Record<string, string>;
  readonly roles?: readonly RoleName[];
  readonly wrapBus?: (bus: MessageBus) => MessageBus;
  readonly sweepIntervalMs?: number;
  readonly inquiryIntervalMs?: number;
  readonly pollersPerQueue?: number;
  /** Transient AWS faults for the stack's clients (the API, every role, and these helpers). */
  readonly faults?: FaultInjector;
  /** Counts every AWS call the stack's clients make. */
  readonly counter?: CallCounter;
  /** Serve the API over HTTP on 127.0.0.1 (0: a free port), for clients in other processes. */
  readonly port?: number;
  /** The participants that run (default all): a transaction at another one stays undecided. */
  readonly participants?: readonly string[];
  /** The root logger of every role (silent by default). */
  readonly log?: Logger;
}

export interface Stack {
  readonly config: Config;
  readonly runtime: Runtime;
  /** The API's URL, when started with `port`. */
  readonly url?: string;
  /**
   * The typed client on the API in this process (no port needed). It does not
   * retry: a test sees the API's first answer.
   */
  readonly client: ConcordClient;
  /** The same client sending this API key. */
  clientWithKey(apiKey: string): ConcordClient;
  request(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Response>;
  seed(server: string, account: string, balance: number): Promise<void>;
  account(
    server: string,
    account: string,
  ): Promise<{ balance: number; reserved: number; pending: number; version: number; lockedBy?: string }>;
  transfer(ops: unknown[], wait?: number, headers?: Record<string, string>): Promise<TransactionView>;
  /** Every item of a table, by logical name (`transactions`, `bank`, `inventory`, ...). */
  scan(table: string): Promise<Record<string, unknown>[]>;
  /** Waits until every participant has acknowledged the outcome (a final phase). */
  settle(id: string, timeoutMs?: number): Promise<TransactionView>;
  stop(): Promise<void>;
}

export function testEnv(prefix: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    AWS_ACCESS_KEY_ID: "test",
    AWS_SECRET_ACCESS_KEY: "test",
    AWS_REGION: "us-east-1",
    AWS_ENDPOINT_URL_DYNAMODB: inject("dynamodbEndpoint"),
    AWS_ENDPOINT_URL_SQS: inject("sqsEndpoint"),
    CONCORD_PREFIX: prefix,
    CONCORD_PREPARE_RETRY_MS: "1000",
    CONCORD_DECISION_RETRY_MS: "1000",
    CONCORD_BACKOFF_CAP_MS: "4000",
    ...extra,
  };
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const prefix = `t${randomUUID().slice(0, 12)}`;
  const config = loadConfig(
    testEnv(prefix, {
      ...(options.bankServers ? { CONCORD_BANK_SERVERS: options.bankServers.join(",") } : {}),
      ...options.env,
    }),
  );
  const runtime = await startRuntime({
    config,
    provision: true,
    visibilityTimeoutSeconds: 2,
    sweepIntervalMs: options.sweepIntervalMs ?? 250,
    pollersPerQueue: options.pollersPerQueue ?? 2,
    ...(options.inquiryIntervalMs ? { inquiryIntervalMs: options.inquiryIntervalMs } : {}),
    log: options.log ?? silentLogger(),
    ...(options.roles ? { roles: options.roles } : {}),
    ...(options.wrapBus ? { roleOptions: { wrapBus: options.wrapBus } } : {}),
    ...(options.faults ? { faults: options.faults } : {}),
    ...(options.counter ? { counter: options.counter } : {}),
    ...(options.port !== undefined ? { port: options.port } : {}),
    ...(options.participants ? { participants: options.participants } : {}),
  });
  const app = runtime.roles.of("api").http;

  const request: Stack["request"] = (method, path, body, headers = {}) =>
    Promise.resolve(
      app.request(path, {
        method,
        headers: { "content-type": "application/json", ...headers },
        ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
      }),
    );

  // The views come from this server: its own view type (event types and reasons as
  // its unions) holds them, where the client keeps those open as strings.
  const asServerView = (view: Promise<unknown>) => view as Promise<TransactionView>;
  const clientWithKey = (apiKey?: string) =>
    createClient({
      baseUrl: "http://concord.test",
      fetch: (input, init) => Promise.resolve(app.request(String(input), init)),
      retry: false,
      apiKey,
    });
  const client = clientWithKey();

  return {
    config,
    runtime,
    ...(runtime.url ? { url: runtime.url } : {}),
    client,
    clientWithKey,
    request,
    async seed(server, account, balance) {
      await client.putAccount(server, account, balance);
    },
    account: (server, account) => client.getAccount(server, account),
    transfer(ops, wait = 10_000, headers = {}) {
      const key = headers["Idempotency-Key"] ?? headers["idempotency-key"];
      const options = { wait, ...(key !== undefined ? { idempotencyKey: key } : {}) };
      return asServerView(client.transfer(ops as TransferOperation[], options));
    },
    scan: (table) => scanTable(runtime.clients.doc, config.topology, table),
    settle: (id, timeoutMs = 20_000) =>
      asServerView(client.waitFor(id, { until: "final", timeoutMs, intervalMs: 100 })),
    stop: () => runtime.stop(),
  };
}

/** Polls until `check` returns a value, or fails after `timeoutMs`. */
export async function eventually<T>(
  check: () => Promise<T | undefined>,
  timeoutMs = 15_000,
  what = "condition",
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}
