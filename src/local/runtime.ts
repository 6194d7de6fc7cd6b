/**
 * The embedded runtime: the roles of the topology in one Node process, fed the
 * way Lambda feeds them (SQS pollers with batch semantics, a schedule for the
 * sweeper, an HTTP server for the API). Any subset of roles can run, so each
 * role can also be its own process.
 */

import { GetQueueUrlCommand } from "@aws-sdk/client-sqs";
import { serve } from "@hono/node-server";
import { participantQueue, physicalName } from "../../infra/topology.ts";
import {
  type AwsClients,
  createAwsClients,
  createPollingSqsClient,
  destroyAwsClients,
} from "../adapters/aws-clients.ts";
import type { CallCounter } from "../adapters/call-counter.ts";
import type { FaultInjector } from "../adapters/fault-injection.ts";
import { type Config, participantNames } from "../config.ts";
import { createLog, type Log } from "../log.ts";
import { createRoles, type RoleOptions, type Roles } from "../wiring.ts";
import { provision, type QueueUrls } from "./provision.ts";
import { startSchedule } from "./scheduler.ts";
import { startSqsPoller } from "./sqs-poller.ts";

export type RoleName = "api" | "coordinator" | "participants" | "dispatcher" | "sweeper";
export const ALL_ROLES: readonly RoleName[] = ["api", "coordinator", "participants", "dispatcher", "sweeper"];

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
  readonly faults?: FaultInjector;
  readonly log?: (service: string) => Log;
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
  const logFor = options.log ?? ((service: string) => createLog(service, config.log.level));
  const log = logFor("runtime");
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
  const roles = createRoles(config, clients, {
    ...options.roleOptions,
    log: logFor,
    ...(queueUrls ? { queueUrls } : {}),
  });

  const stops: (() => Promise<void>)[] = [];
  const pollers = options.pollersPerQueue ?? 2;
  const triggers = config.topology.functions.filter((f) => f.trigger);

  for (const fn of triggers) {
    const trigger = fn.trigger;
    if (!trigger) continue;
    let handler: Roles["coordinator"] | undefined;
    if (fn.role === "coordinator" && wanted.has("coordinator")) handler = roles.coordinator;
    if (fn.role === "dispatcher" && wanted.has("dispatcher")) handler = roles.dispatcher;
    if (fn.role === "participant" && wanted.has("participants")) {
      const server = fn.environment.CONCORD_PARTICIPANT ?? "";
      const serve = options.participants ?? participantNames(config);
      if (serve.includes(server) && trigger.queue === participantQueue(server)) {
        handler = roles.participant(server);
      }
    }
    if (!handler) continue;
    const queueUrl = queueUrls?.get(trigger.queue) ?? (await resolveQueueUrl(clients, config, trigger.queue));
    const poller = startSqsPoller({
      sqs: pollingSqs,
      queueUrl,
      handler,
      batchSize: trigger.batchSize,
      concurrency: pollers,
      log: logFor(`poller-${trigger.queue}`),
    });
    stops.push(() => poller.stop());
  }

  // Scheduled functions run every tick here: what a deployed one does within each
  // invocation of its minute-long schedule (see TimerSettings), so timers fire as
  // finely as on AWS.
  if (wanted.has("participants")) {
    const serve = options.participants ?? participantNames(config);
    for (const fn of config.topology.functions) {
      const server = fn.environment.CONCORD_PARTICIPANT ?? "";
      if (fn.role !== "participant" || !fn.schedule || !serve.includes(server)) continue;
      // The participant's own schedule: ask about barriers it is in doubt about.
      const inquiry = startSchedule({
        rateMs: options.inquiryIntervalMs ?? config.timers.tickMs,
        run: roles.participantInquiry(server),
        log: logFor("schedule"),
      });
      stops.push(() => inquiry.stop());
    }
  }

  if (wanted.has("sweeper")) {
    const schedule = startSchedule({
      rateMs: options.sweepIntervalMs ?? config.timers.tickMs,
      run: () => roles.sweeper().then(() => {}),
      log: logFor("schedule"),
    });
    stops.push(() => schedule.stop());
  }

  let url: string | undefined;
  if (wanted.has("api") && options.port !== undefined) {
    const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
      const s = serve({ fetch: roles.api.fetch, port: options.port, hostname: "127.0.0.1" }, () =>
        resolve(s),
      );
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
