/**
 * Builds each role's handler from configuration and AWS clients, once per warm
 * process. The Lambda entries in functions/ and the local runtime both use it,
 * so the same code runs everywhere.
 *
 * Each role has its own builder (`apiRole`, `coordinatorRole`, ...) that creates
 * only the stores it uses, so a Lambda bundle built from one entry holds only
 * that role's code; `createRoles` puts them together for the local runtime.
 */
import { physicalName } from "../infra/topology.ts";
import type { AwsClients } from "./adapters/aws-clients.ts";
import { createDynamoDbParticipantRegistry } from "./adapters/dynamodb-participant-registry.ts";
import { createDynamoDbParticipantStore } from "./adapters/dynamodb-participant-store.ts";
import { createDynamoDbTransactionStore } from "./adapters/dynamodb-transaction-store.ts";
import { createSqsBus, type MessageBus } from "./adapters/sqs-bus.ts";
import { type App, createApp } from "./api/app.ts";
import type { ResourceMount } from "./api/routes/resources.ts";
import { type Config, participantNames } from "./config.ts";
import { createCoordinator } from "./coordinator/coordinator.ts";
import { DecisionSignal } from "./coordinator/decision-signal.ts";
import { createSweeper, type SweepReport } from "./coordinator/sweeper.ts";
import { coordinatorMessage, participantMessage } from "./core/messages.ts";
import type { TxRecord } from "./core/transaction.ts";
import type { Policy } from "./core/two-phase-commit.ts";
import { type Crash, crashFromEnv } from "./crash-points.ts";
import { runScheduled } from "./handlers/scheduled-run.ts";
import { type SqsHandler, sqsBatchHandler } from "./handlers/sqs-batch.ts";
import { sqsGroupedBatchHandler } from "./handlers/sqs-grouped-batch.ts";
import { createDispatcher } from "./http-participants/dispatcher.ts";
import { systemResolve } from "./http-participants/guarded-lookup.ts";
import { httpCall } from "./http-participants/http-call.ts";
import { type ParticipantRegistry, rememberingRegistry } from "./http-participants/registry.ts";
import { createLog, type Log } from "./log.ts";
import type { Participant } from "./participant-kit/participant.ts";
import { createBuiltInParticipant } from "./participants/built-in.ts";
import { participantCatalog } from "./participants/catalog.ts";
import {
  builtInParticipant,
  KIND_NAMES,
  type KindName,
  PARTICIPANT_KINDS,
  participantsOf,
} from "./participants/kinds.ts";

export interface RoleOptions {
  readonly log?: (service: string) => Log;
  readonly clock?: () => number;
  readonly queueUrls?: ReadonlyMap<string, string>;
  /** Wraps the SQS bus: fault tests drop, duplicate or reorder messages here. */
  readonly wrapBus?: (bus: MessageBus) => MessageBus;
  /** Crash-point injection; from CONCORD_CRASH_AT when absent. */
  readonly crash?: Crash;
}

export interface Roles {
  readonly api: App;
  readonly coordinator: SqsHandler;
  participant(server: string): SqsHandler;
  /** A participant's scheduled in-doubt check; resolves with how many it asked about. */
  participantInquiry(server: string): () => Promise<number>;
  readonly sweeper: () => Promise<SweepReport>;
  /** Delivers messages for registered HTTP participants. */
  readonly dispatcher: SqsHandler;
}

/** What the roles of one process share: configuration, clients, the bus, the clock, the decision signal. */
export interface Wiring {
  readonly config: Config;
  readonly clients: AwsClients;
  readonly bus: MessageBus;
  readonly clock: () => number;
  readonly logFor: (service: string) => Log;
  readonly policy: Policy;
  readonly decisions: DecisionSignal;
  readonly crash: Crash;
  /** Stores built on first use by the roles that need them (see `storeOf`). */
  readonly stores: Map<string, unknown>;
}

export const policyOf = (config: Config): Policy => ({
  prepareRetryMs: config.timing.prepareRetryMs,
  decisionRetryMs: config.timing.decisionRetryMs,
  waitingRetryMs: config.timing.waitingRetryMs,
  backoffCapMs: config.timing.backoffCapMs,
  stalledAfterAttempts: config.timing.stalledAfterAttempts,
  maxEvents: 100,
});

export function createWiring(config: Config, clients: AwsClients, options: RoleOptions = {}): Wiring {
  const sqsBus = createSqsBus({
    sqs: clients.sqs,
    topology: config.topology,
    ...(options.queueUrls ? { queueUrls: options.queueUrls } : {}),
  });
  return {
    config,
    clients,
    bus: options.wrapBus ? options.wrapBus(sqsBus) : sqsBus,
    clock: options.clock ?? Date.now,
    logFor: options.log ?? ((service: string) => createLog(service)),
    policy: policyOf(config),
    decisions: new DecisionSignal(),
    crash: options.crash ?? crashFromEnv(),
    stores: new Map(),
  };
}

function storeOf<T>(wiring: Wiring, key: string, create: () => T): T {
  if (!wiring.stores.has(key)) wiring.stores.set(key, create());
  return wiring.stores.get(key) as T;
}

const transactionStore = (wiring: Wiring) =>
  storeOf(wiring, "transactions", () => {
    const { topology, timing } = wiring.config;
    return createDynamoDbTransactionStore({
      doc: wiring.clients.doc,
      tableName: physicalName(topology, topology.tables.transactions.name),
      shards: topology.dueShards,
      retentionSeconds: timing.retentionSeconds,
    });
  });

const participantRegistry = (wiring: Wiring): ParticipantRegistry =>
  storeOf(wiring, "registry", () => {
    const { topology } = wiring.config;
    return rememberingRegistry(
      createDynamoDbParticipantRegistry({
        doc: wiring.clients.doc,
        tableName: physicalName(topology, topology.tables.participants.name),
      }),
    );
  });

/** A built-in kind's store: one per table, shared by the kind's participants (the bank servers). */
const kindStore = (wiring: Wiring, kind: KindName) =>
  storeOf(wiring, `kind:${kind}`, () => {
    const { topology, timing } = wiring.config;
    return createDynamoDbParticipantStore({
      doc: wiring.clients.doc,
      tableName: physicalName(topology, kind),
      model: PARTICIPANT_KINDS[kind].model,
      retentionSeconds: timing.retentionSeconds,
    });
  });

/** The resources the API serves: each kind this deployment runs, over its store. */
const resourceMounts = (wiring: Wiring): ResourceMount[] =>
  KIND_NAMES.flatMap((kind) => {
    const participants = participantsOf(wiring.config, kind);
    if (participants.length === 0) return [];
    return [{ routes: PARTICIPANT_KINDS[kind].routes, participants, store: kindStore(wiring, kind) }];
  });

const onWrite = (wiring: Wiring) => (tx: TxRecord) => wiring.decisions.changed(tx);

export function apiRole(wiring: Wiring): App {
  const { config } = wiring;
  return createApp({
    store: transactionStore(wiring),
    resources: resourceMounts(wiring),
    bus: wiring.bus,
    clock: wiring.clock,
    policy: wiring.policy,
    log: wiring.logFor("api"),
    catalog: participantCatalog(config),
    participants: {
      registry: participantRegistry(wiring),
      builtIn: participantNames(config),
      urlPolicy: config.http,
      resolve: systemResolve,
      clock: wiring.clock,
    },
    keys: { client: config.apiKeys, admin: config.adminKeys },
    defaultTimeoutMs: config.timing.defaultTimeoutMs,
    maxTimeoutMs: config.timing.maxTimeoutMs,
    decisions: wiring.decisions,
    crash: wiring.crash,
  });
}

export function coordinatorRole(wiring: Wiring): SqsHandler {
  const log = wiring.logFor("coordinator");
  const { bus, clock, policy } = wiring;
  const c = createCoordinator({
    store: transactionStore(wiring),
    bus,
    clock,
    log,
    policy,
    onWrite: onWrite(wiring),
    crash: wiring.crash,
  });
  wiring.decisions.active = true;
  return sqsGroupedBatchHandler(coordinatorMessage, (m) => m.txId, c.handleGroup, log);
}

/** What every participant of this process is built with, from configuration. */
function participantDeps(wiring: Wiring, name: string) {
  const { lockPolicy, lockWaitBudgetMs, inDoubtAfterMs } = wiring.config.participants;
  return {
    bus: wiring.bus,
    clock: wiring.clock,
    log: wiring.logFor(`participant-${name}`),
    lockPolicy,
    waitBudgetMs: lockWaitBudgetMs,
    inDoubtAfterMs,
    crash: wiring.crash,
  };
}

type Built = { readonly participant: Participant; readonly log: Log };

/** A built-in participant of this process, by name, built once: its kind from the registry, over its kind's store. */
function builtIn(wiring: Wiring, name: string): Built {
  const { kind, table } = builtInParticipant(wiring.config, name);
  return storeOf(wiring, `participant:${name}`, () => {
    const deps = participantDeps(wiring, name);
    const participant = createBuiltInParticipant(name, kind, {
      ...deps,
      store: kindStore(wiring, table),
      settings: wiring.config.commerce,
    });
    return { participant, log: deps.log };
  });
}

/** A built-in participant's queue handler, by name. */
export const participantRole = (wiring: Wiring, name: string): SqsHandler => {
  const { participant, log } = builtIn(wiring, name);
  return sqsBatchHandler(participantMessage, participant.handle, log);
};

/** A built-in participant's scheduled check for prepared barriers it is in doubt about. */
export const participantInquiryRole = (wiring: Wiring, name: string): (() => Promise<number>) =>
  builtIn(wiring, name).participant.inquire;

/** The dispatcher's queue handler: messages for registered HTTP participants, delivered over HTTP. */
export function dispatcherRole(wiring: Wiring): SqsHandler {
  const log = wiring.logFor("dispatcher");
  const { http } = wiring.config;
  const dispatcher = createDispatcher({
    registry: participantRegistry(wiring),
    bus: wiring.bus,
    call: httpCall,
    policy: http,
    timeoutMs: http.timeoutMs,
    ...(http.secret ? { secret: http.secret } : {}),
    clock: wiring.clock,
    log,
  });
  return sqsBatchHandler(participantMessage, dispatcher.handle, log);
}

export function sweeperRole(wiring: Wiring): () => Promise<SweepReport> {
  const { bus, clock, policy } = wiring;
  const store = transactionStore(wiring);
  return createSweeper({
    store,
    bus,
    clock,
    log: wiring.logFor("sweeper"),
    policy,
    onWrite: onWrite(wiring),
    crash: wiring.crash,
  }).sweep;
}

/** A scheduled invocation's own pass may not start when less than this is left before its timeout. */
const SCHEDULED_MARGIN_MS = 5_000;

/**
 * A scheduled function's invocation (EventBridge, once a minute): `pass` every
 * timer tick through the configured run (`config.timers`), so its timers fire
 * within about a tick. Takes what the invocation has left, from Lambda's context.
 */
export function scheduledRole(
  wiring: Wiring,
  pass: () => Promise<unknown>,
): (remainingMs?: () => number) => Promise<number> {
  const { tickMs, runSeconds } = wiring.config.timers;
  const log = wiring.logFor("schedule");
  const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
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

/** Every role of one process, each built on first use; the local runtime runs any subset of them. */
export function createRoles(config: Config, clients: AwsClients, options: RoleOptions = {}): Roles {
  const wiring = createWiring(config, clients, options);
  let api: App | undefined;
  let coordinator: SqsHandler | undefined;
  let sweeper: (() => Promise<SweepReport>) | undefined;
  let dispatcher: SqsHandler | undefined;
  const participants = new Map<string, SqsHandler>();

  return {
    get api() {
      api ??= apiRole(wiring);
      return api;
    },
    get coordinator() {
      coordinator ??= coordinatorRole(wiring);
      return coordinator;
    },
    participant(server) {
      let handler = participants.get(server);
      if (!handler) {
        handler = participantRole(wiring, server);
        participants.set(server, handler);
      }
      return handler;
    },
    participantInquiry: (server) => participantInquiryRole(wiring, server),
    get sweeper() {
      sweeper ??= sweeperRole(wiring);
      return sweeper;
    },
    get dispatcher() {
      dispatcher ??= dispatcherRole(wiring);
      return dispatcher;
    },
  };
}
