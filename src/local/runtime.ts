/**
 * The embedded runtime: the roles of the topology in one Node process, fed the
 * way Lambda feeds them (SQS pollers with batch semantics, a schedule for the
 * sweeper, an HTTP server for the API). Any subset of roles can run, so each
 * role can also be its own process.
 */

import type { Logger } from "@aws-lambda-powertools/logger";
import { GetQueueUrlCommand } from "@aws-sdk/client-sqs";
import { serve } from "@hono/node-server";
import { type FunctionRole, physicalName } from "../../infra/topology.ts";
import {
  type AwsClients,
  type ClientFaults,
  createAwsClients,
  createPollingSqsClient,
  destroyAwsClients,
} from "../adapters/aws-clients.ts";
import type { CallCounter } from "../adapters/call-counter.ts";
import { type Config, participantNames } from "../config.ts";
import { createRootLogger } from "../log.ts";
import { createPrometheusMetrics } from "../metrics/prometheus.ts";
import { createRoles, type RoleEntry, type Roles } from "../roles.ts";
import { createWiring, type RoleOptions } from "../wiring.ts";
import { provision, type QueueUrls } from "./provision.ts";
import { startSchedule } from "./scheduler.ts";
import { startSqsPoller } from "./sqs-poller.ts";

export type RoleName = "api" | "coordinator" | "participants" | "dispatcher" | "sweeper";
export const ALL_ROLES: readonly RoleName[] = ["api", "coordinator", "participants", "dispatcher", "sweeper"];

/** Which of the runtime's roles runs each function role of the topology (`participants`: all of them). */
const RUN_AS: Readonly<Record<FunctionRole, RoleName>> = {
  api: "api",
  coordinator: "coordinator",
  participant: "participants",
  dispatcher: "dispatcher",
  sweeper: "sweeper",
};

export interface RuntimeOptions {
  readonly config: Config;
  readonly roles?: readonly RoleName[];
  /** Participants to serve when running participants (bank servers, e-commerce ones); default all of them. */
  readonly participants?: readonly string[];
  /** Serve the API over HTTP on 127.0.0.1 at this port (0 = any free port). Omit to not listen. */
  readonly port?: number;
  /** Parallel pollers per queue, like Lambda's concurrent invocations. */
  readonly pollersPerQueue?: number;
  /** The sweeper's schedule; the timer tick (CONCORD_TIMER_TICK_MS) when absent. */
  readonly sweepIntervalMs?: number;
  /** The participants' in-doubt checks; the timer tick when absent. */
  readonly inquiryIntervalMs?: number;
  /** Visibility timeout of the local queues; see provision. */
  readonly visibilityTimeoutSeconds?: number;
  readonly maxReceiveCount?: number;
  /** Create tables and queues first (idempotent). */
  readonly provision?: boolean;
  readonly counter?: CallCounter;
  /** Transient AWS faults injected into every client of this runtime (tests). */
  readonly faults?: ClientFaults;
  /** The root logger; from the configured level when absent. */
  readonly log?: Logger;
  readonly roleOptions?: Omit<RoleOptions, "log" | "queueUrls">;
}

export interface Runtime {
  readonly roles: Roles;
  readonly clients: AwsClients;
  readonly queueUrls?: QueueUrls;
  /** Where the API listens, when it does. */
  readonly url?: string;
  stop(): Promise<void>;
}

export async function startRuntime(options: RuntimeOptions): Promise<Runtime> {
  const { config } = options;
  const root = options.log ?? createRootLogger(config.log.level);
  const log = root.createChild({ serviceName: "concord-runtime" });
  const wanted = new Set(options.roles ?? ALL_ROLES);
  const clientOptions = {
    ...(options.counter ? { counter: options.counter } : {}),
    ...(options.faults ? { faults: options.faults } : {}),
  };
  const clients = createAwsClients(config, clientOptions);
  const pollingSqs = createPollingSqsClient(config, clientOptions);
  const queueUrls = options.provision
    ? await provision(config.topology, clients, {
        ...(options.visibilityTimeoutSeconds !== undefined
          ? { visibilityTimeoutSeconds: options.visibilityTimeoutSeconds }
          : {}),
        ...(options.maxReceiveCount !== undefined ? { maxReceiveCount: options.maxReceiveCount } : {}),
      })
    : undefined;
  const roles = createRoles(
    createWiring(config, clients, {
      // One registry for the process: with every role here, `/metrics` sees everything.
      metrics: createPrometheusMetrics(),
      ...options.roleOptions,
      log: root,
      ...(queueUrls ? { queueUrls } : {}),
    }),
  );

  const stops: (() => Promise<void>)[] = [];
  const pollers = options.pollersPerQueue ?? 2;
  const served = options.participants ?? participantNames(config);

  // Every function of the topology that this process runs, fed as Lambda feeds it:
  // its queue's batches by pollers, its schedule every tick (what a deployed one does
  // within each invocation of its minute-long schedule, see TimerSettings), so timers
  // fire as finely as on AWS.
  for (const fn of config.topology.functions) {
    if (!wanted.has(RUN_AS[fn.role]) || (!fn.trigger && !fn.schedule)) continue;
    const participant = fn.environment.CONCORD_PARTICIPANT ?? "";
    if (fn.role === "participant" && !served.includes(participant)) continue;
    const entry: RoleEntry = roles.of(fn.role, participant);
    const { trigger, schedule } = fn;
    if (trigger && entry.batch) {
      const queueUrl =
        queueUrls?.get(trigger.queue) ?? (await resolveQueueUrl(clients, config, trigger.queue));
      const poller = startSqsPoller({
        sqs: pollingSqs,
        queueUrl,
        handler: entry.batch,
        batchSize: trigger.batchSize,
        concurrency: pollers,
        log: root.createChild({ serviceName: "concord-poller", persistentKeys: { queue: trigger.queue } }),
      });
      stops.push(() => poller.stop());
    }
    const { pass } = entry;
    if (schedule && pass) {
      const rateMs = fn.role === "sweeper" ? options.sweepIntervalMs : options.inquiryIntervalMs;
      const timer = startSchedule({
        rateMs: rateMs ?? config.timers.tickMs,
        run: pass,
        log: root.createChild({ serviceName: "concord-schedule" }),
      });
      stops.push(() => timer.stop());
    }
  }

  let url: string | undefined;
  if (wanted.has("api") && options.port !== undefined) {
    const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
      const { http } = roles.of("api");
      const s = serve({ fetch: http.fetch, port: options.port, hostname: "127.0.0.1" }, () => resolve(s));
      s.once("error", reject);
    });
    const address = server.address();
    const port = typeof address === "object" && address ? address.port : options.port;
    url = `http://127.0.0.1:${port}`;
    stops.unshift(
      () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          // Keep-alive connections would hold close() open; the runtime is going away.
          (server as { closeAllConnections?: () => void }).closeAllConnections?.();
        }),
    );
  }

  return {
    roles,
    clients,
    ...(queueUrls ? { queueUrls } : {}),
    ...(url ? { url } : {}),
    async stop() {
      // The API stops taking requests first, then pollers finish their batches.
      for (const stop of stops) await stop().catch((err) => log.error("stop failed", { error: String(err) }));
      destroyAwsClients(clients);
      pollingSqs.destroy();
    },
  };
}

async function resolveQueueUrl(clients: AwsClients, config: Config, queue: string): Promise<string> {
  const out = await clients.sqs.send(
    new GetQueueUrlCommand({ QueueName: physicalName(config.topology, queue) }),
  );
  if (!out.QueueUrl) throw new Error(`queue ${queue} not found; provision first`);
  return out.QueueUrl;
}
