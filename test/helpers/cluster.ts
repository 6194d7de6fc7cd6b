/**
 * concord as separate OS processes on the shared emulators: coordinator, one
 * process per bank server, sweeper, API. Any role can be killed and restarted,
 * with its own environment (e.g. a crash point).
 */
import { randomUUID } from "node:crypto";
import { GetQueueAttributesCommand, GetQueueUrlCommand, ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import { physicalName } from "../../infra/topology.ts";
import { createClient } from "../../packages/client/src/index.ts";
import { createAwsClients, destroyAwsClients } from "../../src/adapters/aws-clients.ts";
import { fromItem } from "../../src/adapters/dynamodb-transaction-item.ts";
import { type Config, loadConfig } from "../../src/config.ts";
import type { TransactionView } from "../../src/core/view.ts";
import { checkInvariants as checkStoredInvariants } from "../../testkit/invariants/check.ts";
import { participantItems } from "../../testkit/invariants/snapshot.ts";
import { scanTable } from "../../testkit/scan-table.ts";
import { type RoleProcess, startRole } from "./processes.ts";
import { testEnv } from "./stack.ts";

export type RoleKey = "coordinator" | "sweeper" | "api" | `bank-${number}`;

export interface Cluster {
  readonly config: Config;
  /** The environment every role runs with (endpoints, prefix, timing). */
  readonly env: NodeJS.ProcessEnv;
  readonly url: string;
  running(role: RoleKey): boolean;
  /** Waits for the role's process to end (e.g. killed by its own crash point). */
  exited(role: RoleKey, timeoutMs?: number): Promise<NodeJS.Signals | number | null>;
  kill(role: RoleKey): Promise<void>;
  start(role: RoleKey, env?: Record<string, string>): Promise<void>;
  call(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
    // biome-ignore lint/suspicious/noExplicitAny: tests read whatever JSON the API answered
  ): Promise<{ status: number; body: any }>;
  settle(id: string, timeoutMs?: number): Promise<TransactionView>;
  scan(table: "transactions" | "bank"): Promise<Record<string, unknown>[]>;
  /** Messages waiting in a queue's dead-letter queue, and up to 10 of their bodies. */
  deadLetters(queue: string): Promise<{ count: number; bodies: string[] }>;
  stop(): Promise<void>;
}

export const FAST_TIMING: Record<string, string> = {
  CONCORD_SWEEP_INTERVAL_SECONDS: "1",
  CONCORD_PREPARE_RETRY_MS: "500",
  CONCORD_DECISION_RETRY_MS: "500",
  CONCORD_BACKOFF_CAP_MS: "2000",
  CONCORD_LOCAL_VISIBILITY_TIMEOUT_SECONDS: "2",
  CONCORD_IN_DOUBT_AFTER_MS: "3000",
};

const argsOf = (role: RoleKey): string[] =>
  role.startsWith("bank-")
    ? ["participants", "--participant", role]
    : role === "api"
      ? ["api", "--port", "0"]
      : [role];

export async function startCluster(
  options: {
    servers?: number;
    env?: Record<string, string>;
    roleEnv?: Partial<Record<RoleKey, Record<string, string>>>;
    omit?: RoleKey[];
  } = {},
): Promise<Cluster> {
  const servers = Array.from({ length: options.servers ?? 2 }, (_, i) => `bank-${i + 1}` as RoleKey);
  const env = testEnv(`c${randomUUID().slice(0, 12)}`, {
    ...FAST_TIMING,
    CONCORD_BANK_SERVERS: servers.join(","),
    ...options.env,
  });
  const config = loadConfig(env);
  const clients = createAwsClients(config);
  const processes = new Map<RoleKey, RoleProcess>();
  let url = "";

  const start = async (role: RoleKey, extra: Record<string, string> = {}) => {
    const args = [...argsOf(role), ...(role === "coordinator" ? ["--provision"] : [])];
    const p = startRole(args, { ...env, ...options.roleEnv?.[role], ...extra });
    processes.set(role, p);
    const line = await p.ready;
    if (role === "api") url = /API at (\S+)\)/.exec(line)?.[1] ?? "";
  };

  // The coordinator provisions; the others start once tables and queues exist.
  await start("coordinator");
  const rest: RoleKey[] = [...servers, "sweeper", "api"];
  await Promise.all(rest.filter((r) => !options.omit?.includes(r)).map((r) => start(r)));
  if (options.omit?.includes("coordinator")) await processes.get("coordinator")?.kill();

  const call: Cluster["call"] = async (method, path, body, headers = {}) => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };

  const scan: Cluster["scan"] = (table) => scanTable(clients.doc, config.topology, table);

  return {
    config,
    env,
    get url() {
      return url;
    },
    running: (role) => {
      const p = processes.get(role);
      return !!p && p.child.exitCode === null && p.child.signalCode === null;
    },
    async exited(role, timeoutMs = 20_000) {
      const p = processes.get(role);
      if (!p) return null;
      if (p.child.exitCode !== null || p.child.signalCode !== null)
        return p.child.signalCode ?? p.child.exitCode;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${role} did not exit:\n${p.output()}`)), timeoutMs);
        p.child.once("exit", (code, signal) => {
          clearTimeout(timer);
          resolve(signal ?? code);
        });
      });
    },
    kill: async (role) => {
      await processes.get(role)?.kill("SIGKILL");
    },
    start,
    call,
    settle(id, timeoutMs = 30_000) {
      // The API's URL as it is now (a restarted API listens elsewhere); no retries, as before:
      // a test sees the API's first answer.
      const client = createClient({ baseUrl: url, retry: false });
      const view = client.waitFor(id, { until: "final", timeoutMs, intervalMs: 100 });
      return view as Promise<TransactionView>;
    },
    scan,
    async deadLetters(queue) {
      const { QueueUrl } = await clients.sqs.send(
        new GetQueueUrlCommand({ QueueName: physicalName(config.topology, `${queue}-dlq`) }),
      );
      const attrs = await clients.sqs.send(
        new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ["ApproximateNumberOfMessages"] }),
      );
      const peek = await clients.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl,
          MaxNumberOfMessages: 10,
          VisibilityTimeout: 0,
          WaitTimeSeconds: 0,
        }),
      );
      return {
        count: Number(attrs.Attributes?.ApproximateNumberOfMessages ?? 0),
        bodies: (peek.Messages ?? []).map((m) => m.Body ?? ""),
      };
    },
    async stop() {
      await Promise.all([...processes.values()].map((p) => p.kill("SIGKILL")));
      destroyAwsClients(clients);
    },
  };
}

/**
 * Design §4 from the stored state (the one checker, testkit/invariants/):
 * conservation of the total, agreement, no negative balance, no lock, no
 * prepared barrier, nothing unfinished.
 */
export async function checkInvariants(cluster: Cluster, expectedTotal: number): Promise<string[]> {
  // The records first: what a final one did is durable by then (testkit/chaos/checker.ts, readState).
  const txs = (await cluster.scan("transactions")).map(fromItem);
  const bank = await cluster.scan("bank");
  return checkStoredInvariants({
    records: txs,
    ...participantItems(bank),
    expectedTotal,
  }).map((v) => `${v.invariant}: ${v.detail}`);
}
