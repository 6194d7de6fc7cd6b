/**
 * A whole concord in this test process, on the shared emulators, with its own
 * tables and queues (a unique prefix) so test files can run side by side.
 */
import { randomUUID } from "node:crypto";
import type { Logger } from "@aws-lambda-powertools/logger";
import { inject } from "vitest";
import type { CallCounter } from "../../src/adapters/call-counter.ts";
import { type Config, loadConfig } from "../../src/config.ts";
import { isFinal } from "../../src/core/transaction.ts";
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
  /** The root logger of every role (silent by default). */
  readonly log?: Logger;
}

export interface Stack {
  readonly config: Config;
  readonly runtime: Runtime;
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

  return {
    config,
    runtime,
    request,
    async seed(server, account, balance) {
      const res = await request("PUT", `/v1/bank/${server}/accounts/${account}`, { balance });
      if (res.status !== 200) throw new Error(`seed ${server}/${account}: ${res.status} ${await res.text()}`);
    },
    async account(server, account) {
      const res = await request("GET", `/v1/bank/${server}/accounts/${account}`);
      if (res.status !== 200) throw new Error(`account ${server}/${account}: ${res.status}`);
      return (await res.json()) as Awaited<ReturnType<Stack["account"]>>;
    },
    async transfer(ops, wait = 10_000, headers = {}) {
      const res = await request("POST", `/v1/transfers?wait=${wait}`, ops, headers);
      if (res.status !== 201 && res.status !== 202)
        throw new Error(`transfer: ${res.status} ${await res.text()}`);
      return (await res.json()) as TransactionView;
    },
    scan: (table) => scanTable(runtime.clients.doc, config.topology, table),
    settle(id, timeoutMs = 20_000) {
      return eventually(
        async () => {
          const view = (await (await request("GET", `/v1/transactions/${id}`)).json()) as TransactionView;
          return isFinal(view.phase) ? view : undefined;
        },
        timeoutMs,
        `transaction ${id} to finish`,
      );
    },
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
