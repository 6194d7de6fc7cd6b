/**
 * The one table of role builders: for each function role of the topology,
 * what it runs, built from a Wiring. A Lambda entry (functions/*) imports its
 * role's builder by name, so its bundle holds that role alone; the local
 * runtime looks every role up in `ROLE_BUILDERS`. Either way a function runs
 * its role the same way: `batch` for the batches of its trigger queue, `pass`
 * for each pass of its schedule, `http` for the API.
 */
import type { Logger } from "@aws-lambda-powertools/logger";
import { DISPATCHER_QUEUE, type FunctionRole, physicalName } from "../infra/topology.ts";
import { dynamoDbProbe } from "./adapters/dynamodb-readiness-probe.ts";
import { countInFlight } from "./adapters/dynamodb-transaction-gauges.ts";
import { secretReader } from "./adapters/secrets-manager.ts";
import { deadLetterDepth } from "./adapters/sqs-dead-letter-depth.ts";
import { sqsProbe } from "./adapters/sqs-readiness-probe.ts";
import { type App, createApp } from "./api/app.ts";
import { createReadiness } from "./api/readiness.ts";
import type { ResourceMount } from "./api/routes/resources.ts";
import { participantNames } from "./config.ts";
import { type Coordinator, createCoordinator } from "./coordinator/coordinator.ts";
import { createSweeper, type SweepReport } from "./coordinator/sweeper.ts";
import { coordinatorMessage, type ParticipantMessage, participantMessage } from "./core/messages.ts";
import { commitsAt } from "./core/transaction.ts";
import { runScheduled } from "./handlers/scheduled-run.ts";
import { type SqsHandler, sqsBatchHandler } from "./handlers/sqs-batch.ts";
import { sqsGroupedBatchHandler } from "./handlers/sqs-grouped-batch.ts";
import { createDispatcher } from "./http-participants/dispatcher.ts";
import { systemResolve } from "./http-participants/guarded-lookup.ts";
import { httpCall } from "./http-participants/http-call.ts";
import { fixedSecret, refreshingSecret, type SigningSecret } from "./http-participants/signing-secret.ts";
import { type GaugeSources, readGauges } from "./metrics/gauges.ts";
import { createBuiltInParticipant } from "./participants/built-in.ts";
import { participantCatalog } from "./participants/catalog.ts";
import {
  builtInParticipant,
  builtInParticipants,
  KIND_NAMES,
  PARTICIPANT_KINDS,
  participantsOf,
} from "./participants/kinds.ts";
import { deliveringToSelf, offerOwnCommit, ownCommitOffered } from "./self-delivery.ts";
import { sleep } from "./timers.ts";
import type { LogKeys } from "./trace-context.ts";
import {
  kindStore,
  once,
  participantRegistry,
  transactionListing,
  transactionStore,
  type Wiring,
} from "./wiring.ts";

/** What a function runs, by how it is invoked. */
export interface RoleEntry {
  readonly http?: App;
  readonly batch?: SqsHandler;
  readonly pass?: () => Promise<unknown>;
}

/** What each role runs. */
export interface RoleHandlers {
  readonly api: { readonly http: App };
  /** Votes, acks and results from the coordinator queue. */
  readonly coordinator: { readonly batch: SqsHandler };
  /** Its queue's messages; on its schedule, asks about barriers it is in doubt about (resolves with how many). */
  readonly participant: { readonly batch: SqsHandler; readonly pass: () => Promise<number> };
  /** Messages for registered HTTP participants, delivered over HTTP. */
  readonly dispatcher: { readonly batch: SqsHandler };
  /** Timeouts, re-sends, deadlock detection. */
  readonly sweeper: { readonly pass: () => Promise<SweepReport> };
}

/** Builds one role; `participant` names which built-in participant, for that role (others ignore it). */
export type RoleBuilder<R extends FunctionRole> = (wiring: Wiring, participant: string) => RoleHandlers[R];

/** The resources the API serves: each kind this deployment runs, over its store. */
const resourceMounts = (wiring: Wiring): ResourceMount[] =>
  KIND_NAMES.flatMap((kind) => {
    const participants = participantsOf(wiring.config, kind);
    if (participants.length === 0) return [];
    const { routes, model } = PARTICIPANT_KINDS[kind];
    return [
      { routes, participants, store: kindStore(wiring, kind), quantities: Object.keys(model.quantities) },
    ];
  });

/** In doubt: at most this many barriers are counted per participant on a scrape. */
const IN_DOUBT_COUNT_LIMIT = 1000;

/** Where a scrape reads its gauges: the status index, each participant's prepared index, each DLQ. */
function gaugeSources(wiring: Wiring): GaugeSources {
  const { config, clients } = wiring;
  const { topology } = config;
  const dlqs = deadLetterDepth({ sqs: clients.sqs, topology });
  return {
    inFlight: () =>
      countInFlight({
        doc: clients.doc,
        tableName: physicalName(topology, topology.tables.transactions.name),
        shards: topology.dueShards,
      }),
    inDoubt: async () => {
      const before = wiring.clock() - config.participants.inDoubtAfterMs;
      const counts = await Promise.all(
        builtInParticipants(config).map(async ({ name, table }) => {
          const barriers = await kindStore(wiring, table).preparedBefore(name, before, IN_DOUBT_COUNT_LIMIT);
          return [name, barriers.length] as const;
        }),
      );
      return new Map(counts);
    },
    deadLetters: () => dlqs.depths(),
  };
}

export const apiRole: RoleBuilder<"api"> = (wiring) => {
  const { config, metrics } = wiring;
  const scrape = metrics.scrape?.bind(metrics);
  const sources = scrape && gaugeSources(wiring);
  const http = createApp({
    store: transactionStore(wiring),
    listing: transactionListing(wiring),
    resources: resourceMounts(wiring),
    bus: wiring.bus,
    clock: wiring.clock,
    policy: wiring.policy,
    log: wiring.log.createChild({ serviceName: "concord-api" }),
    catalog: participantCatalog(config),
    participants: {
      registry: participantRegistry(wiring),
      builtIn: participantNames(config),
      urlPolicy: config.http,
      resolve: systemResolve,
      clock: wiring.clock,
    },
    keys: { client: config.apiKeys, admin: config.adminKeys },
    readiness: createReadiness({
      probes: {
        dynamodb: dynamoDbProbe(
          wiring.clients.doc,
          physicalName(config.topology, config.topology.tables.transactions.name),
        ),
        // A queue the API sends to, so that its grant covers GetQueueUrl.
        sqs: sqsProbe(wiring.clients.sqs, physicalName(config.topology, DISPATCHER_QUEUE)),
      },
      clock: wiring.clock,
    }),
    defaultTimeoutMs: config.timing.defaultTimeoutMs,
    maxTimeoutMs: config.timing.maxTimeoutMs,
    decisions: wiring.decisions,
    records: wiring.records,
    crash: wiring.crash,
    metrics,
    ...(scrape && sources
      ? {
          scrapeMetrics: async () =>
            scrape(await readGauges(sources, wiring.log.createChild({ serviceName: "concord-metrics" }))),
        }
      : {}),
  });
  return { http };
};

/**
 * The coordinator's message handling, one per wiring: the coordinator role runs
 * it on its queue's batches, and the roles that answer (participants, the
 * dispatcher) on their own answers, installed in the wiring's bus (direct
 * answers). Its writes wake the API's `?wait=` of this process (`decisions`).
 */
const coordinatorOf = /* @__PURE__ */ once(
  (wiring: Wiring): Coordinator =>
    createCoordinator({
      store: transactionStore(wiring),
      bus: wiring.bus,
      clock: wiring.clock,
      log: wiring.log.createChild({ serviceName: "concord-coordinator" }),
      policy: wiring.policy,
      onWrite: wiring.decisions.reporter(),
      records: wiring.records,
      crash: wiring.crash,
      metrics: wiring.metrics,
      // Applying a participant's own vote: the commit it offers is written with the decision.
      ownCommit: ownCommitOffered,
    }),
);

export const coordinatorRole: RoleBuilder<"coordinator"> = (wiring) => {
  const log = wiring.log.createChild({ serviceName: "concord-coordinator" });
  const c = coordinatorOf(wiring);
  return {
    batch: sqsGroupedBatchHandler(
      coordinatorMessage,
      (m) => m.txId,
      c.handleGroup,
      log,
      (txId) => ({ txId }),
    ),
  };
};

/**
 * A role that answers the coordinator applies its answers with the
 * coordinator's handling (direct answers; unless they are queued, when the
 * wiring builds none). Installed when the role is built, so that from then on
 * the decisions it takes wake the `?wait=` of an API in this process.
 */
const answering = (wiring: Wiring): void => wiring.applyAnswersWith(() => coordinatorOf(wiring));

/**
 * A role's handler for its queue's messages, which then also handles what the
 * coordinator's handling, run on its direct answers, sent the participant a
 * message was for (self-delivery), unless that is off.
 */
const selfDelivering = (
  wiring: Wiring,
  handle: (message: ParticipantMessage) => Promise<void>,
  log: Logger,
  keysOf: (message: ParticipantMessage) => LogKeys,
): ((message: ParticipantMessage) => Promise<void>) =>
  wiring.selfDelivery
    ? deliveringToSelf(handle, {
        // The bus, not the queue alone: a fault test's wrapper sees this send as any other.
        fallback: (participant, message) => wiring.bus.toParticipant(participant, message),
        log,
        keysOf,
        crash: wiring.crash,
        oldestFirst: wiring.config.participants.lockPolicy === "detect",
      })
    : handle;

export const participantRole: RoleBuilder<"participant"> = (wiring, name) => {
  if (name === "") throw new Error("CONCORD_PARTICIPANT must name the built-in participant to serve");
  answering(wiring);
  const { kind, table } = builtInParticipant(wiring.config, name);
  const { lockPolicy, lockMode, lockWaitBudgetMs, inDoubtAfterMs } = wiring.config.participants;
  // Every line this participant logs names it.
  const log = wiring.log.createChild({
    serviceName: "concord-participant",
    persistentKeys: { participant: name },
  });
  const participant = createBuiltInParticipant(name, kind, {
    store: kindStore(wiring, table),
    settings: wiring.config.commerce,
    bus: wiring.bus,
    clock: wiring.clock,
    log,
    lockPolicy,
    lockMode,
    waitBudgetMs: lockWaitBudgetMs,
    inDoubtAfterMs,
    crash: wiring.crash,
    metrics: wiring.metrics,
    // With self-delivery, the last voter's commit is written with the decision it makes.
    ...(wiring.selfDelivery && wiring.config.participants.commitWithDecision
      ? { offerCommit: offerOwnCommit }
      : {}),
    // With direct answers, a yes vote is written with the prepare it stands on.
    ...(wiring.config.participants.voteWithPrepare ? { voteWithPrepare: wiring.voteWithPrepare } : {}),
    // The record as this process last wrote it, else as stored: a decision a stale copy misses only means dying.
    holderCommits: async (txId, startedAt, attempt) => {
      const tx = wiring.records.get(txId) ?? (await transactionStore(wiring).get(txId));
      return tx !== undefined && commitsAt(tx, startedAt, attempt);
    },
  });
  // Every line about a message names its transaction (the participant is this logger's persistent key).
  const keysOf = (m: ParticipantMessage) => ({ txId: m.txId });
  return {
    batch: sqsBatchHandler(
      participantMessage,
      selfDelivering(wiring, participant.handle, log, keysOf),
      log,
      keysOf,
    ),
    pass: participant.inquire,
  };
};

/** The environment's secret (local), or the stack's Secrets Manager secret, cached with a bounded refresh (Lambda). */
function signingSecret(wiring: Wiring, log: Logger): { secret?: SigningSecret } {
  const { secret, secretArn } = wiring.config.http;
  if (secret) return { secret: fixedSecret(secret) };
  if (!secretArn) return {};
  const read = secretReader(wiring.config);
  return { secret: refreshingSecret({ read: () => read(secretArn), clock: wiring.clock, log }) };
}

export const dispatcherRole: RoleBuilder<"dispatcher"> = (wiring) => {
  answering(wiring);
  const log = wiring.log.createChild({ serviceName: "concord-dispatcher" });
  const { http } = wiring.config;
  const dispatcher = createDispatcher({
    registry: participantRegistry(wiring),
    bus: wiring.bus,
    call: httpCall,
    policy: http,
    timeoutMs: http.timeoutMs,
    ...signingSecret(wiring, log),
    clock: wiring.clock,
    log,
    metrics: wiring.metrics,
  });
  // Every line about a message names its transaction and the HTTP participant it is for.
  const keysOf = (m: ParticipantMessage) => ({ txId: m.txId, participant: m.participant });
  return {
    batch: sqsBatchHandler(
      participantMessage,
      selfDelivering(wiring, dispatcher.handle, log, keysOf),
      log,
      keysOf,
    ),
  };
};

export const sweeperRole: RoleBuilder<"sweeper"> = (wiring) => {
  const sweeper = createSweeper({
    store: transactionStore(wiring),
    bus: wiring.bus,
    clock: wiring.clock,
    log: wiring.log.createChild({ serviceName: "concord-sweeper" }),
    policy: wiring.policy,
    onWrite: (tx) => wiring.decisions.changed(tx),
    crash: wiring.crash,
    metrics: wiring.metrics,
  });
  return { pass: sweeper.sweep };
};

export const ROLE_BUILDERS: { readonly [R in FunctionRole]: RoleBuilder<R> } = {
  api: apiRole,
  coordinator: coordinatorRole,
  participant: participantRole,
  dispatcher: dispatcherRole,
  sweeper: sweeperRole,
};

/** A scheduled invocation's own pass may not start when less than this is left before its timeout. */
const SCHEDULED_MARGIN_MS = 5_000;

/**
 * A scheduled function's invocation (EventBridge, once a minute): `pass` every
 * timer tick through the configured run (`config.timers`), so its timers fire
 * within about a tick. Takes what the invocation has left, from Lambda's context.
 */
export function scheduledRun(
  wiring: Wiring,
  pass: () => Promise<unknown>,
): (remainingMs?: () => number) => Promise<number> {
  const { tickMs, runSeconds } = wiring.config.timers;
  const log = wiring.log.createChild({ serviceName: "concord-schedule" });
  return (remainingMs) =>
    runScheduled(pass, {
      tickMs,
      runMs: runSeconds * 1000,
      clock: wiring.clock,
      sleep,
      marginMs: SCHEDULED_MARGIN_MS,
      log,
      ...(remainingMs ? { remainingMs } : {}),
    });
}

/** Every role of one process, each built once (per participant) on first use; the local runtime runs any subset. */
export interface Roles {
  readonly wiring: Wiring;
  of<R extends FunctionRole>(role: R, participant?: string): RoleHandlers[R];
}

export function createRoles(wiring: Wiring): Roles {
  const cached = <R extends FunctionRole>(role: R) => {
    const build: RoleBuilder<R> = ROLE_BUILDERS[role];
    const byParticipant = new Map<string, RoleHandlers[R]>();
    return (participant: string): RoleHandlers[R] => {
      let handlers = byParticipant.get(participant);
      if (!handlers) {
        handlers = build(wiring, participant);
        byParticipant.set(participant, handlers);
      }
      return handlers;
    };
  };
  const roles: { readonly [R in FunctionRole]: (participant: string) => RoleHandlers[R] } = {
    api: cached("api"),
    coordinator: cached("coordinator"),
    participant: cached("participant"),
    dispatcher: cached("dispatcher"),
    sweeper: cached("sweeper"),
  };
  return { wiring, of: (role, participant = "") => roles[role](participant) };
}
