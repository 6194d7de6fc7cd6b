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
import { createDynamoDbBankStore } from "./adapters/dynamodb-bank-store.ts";
import { createDynamoDbParticipantRegistry } from "./adapters/dynamodb-participant-registry.ts";
import { createDynamoDbParticipantStore } from "./adapters/dynamodb-participant-store.ts";
import { createDynamoDbTransactionStore } from "./adapters/dynamodb-transaction-store.ts";
import { createSqsBus, type MessageBus } from "./adapters/sqs-bus.ts";
import { type App, createApp } from "./api/app.ts";
import { type Config, participantNames } from "./config.ts";
import { createCoordinator } from "./coordinator/coordinator.ts";
import { DecisionSignal } from "./coordinator/decision-signal.ts";
import { createSweeper, type SweepReport } from "./coordinator/sweeper.ts";
import { coordinatorMessage, participantMessage } from "./core/messages.ts";
import type { TxRecord } from "./core/transaction.ts";
import type { Policy } from "./core/two-phase-commit.ts";
import { armCrash, type Crash } from "./crash-points.ts";
import { runScheduled } from "./handlers/scheduled-run.ts";
import { type SqsHandler, sqsBatchHandler } from "./handlers/sqs-batch.ts";
import { sqsGroupedBatchHandler } from "./handlers/sqs-grouped-batch.ts";
import { createDispatcher } from "./http-participants/dispatcher.ts";
import { systemResolve } from "./http-participants/guarded-lookup.ts";
import { httpCall } from "./http-participants/http-call.ts";
import { type ParticipantRegistry, rememberingRegistry } from "./http-participants/registry.ts";
import { createLog, type Log } from "./log.ts";
import type { Participant } from "./participant-kit/participant.ts";
import type { ResourceModel, ResourceState } from "./participant-kit/resource-model.ts";
import { createBankParticipant } from "./participants/bank/bank-participant.ts";
import { participantCatalog } from "./participants/catalog.ts";
import { createCommerceParticipant } from "./participants/commerce/commerce-participant.ts";
import { type CommerceStores, commerceModels } from "./participants/commerce/models.ts";
import { type CommerceParticipantName, isCommerceParticipant } from "./participants/commerce/names.ts";

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
    logFor: options.log ?? ((service: string) => createLog(service, config.log.level)),
    policy: policyOf(config),
    decisions: new DecisionSignal(),
    crash: options.crash ?? armCrash(config.faults.crashAt),
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

const bankStore = (wiring: Wiring) =>
  storeOf(wiring, "bank", () => {
    const { topology, timing } = wiring.config;
    return createDynamoDbBankStore({
      doc: wiring.clients.doc,
      tableName: physicalName(topology, topology.tables.bank.name),
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

/** The stores of the e-commerce participants this deployment runs, each on its own table. */
const commerceStores = (wiring: Wiring): CommerceStores => {
  const { topology, timing, commerce } = wiring.config;
  const storeFor = <S extends ResourceState>(name: CommerceParticipantName, model: ResourceModel<S>) =>
    storeOf(wiring, `commerce:${name}`, () =>
      createDynamoDbParticipantStore({
        doc: wiring.clients.doc,
        tableName: physicalName(topology, name),
        model,
        retentionSeconds: timing.retentionSeconds,
      }),
    );
  const has = (name: CommerceParticipantName) => commerce.participants.includes(name);
  const { inventory, payment, order, shipping } = commerceModels;
  return {
    ...(has("inventory") ? { inventory: storeFor("inventory", inventory) } : {}),
    ...(has("payment") ? { payment: storeFor("payment", payment) } : {}),
    ...(has("order") ? { order: storeFor("order", order) } : {}),
    ...(has("shipping") ? { shipping: storeFor("shipping", shipping) } : {}),
  };
};

const onWrite = (wiring: Wiring) => (tx: TxRecord) => wiring.decisions.changed(tx);

export function apiRole(wiring: Wiring): App {
  const { config } = wiring;
  return createApp({
    store: transactionStore(wiring),
    bank: bankStore(wiring),
    commerce: commerceStores(wiring),
    bus: wiring.bus,
    clock: wiring.clock,
    policy: wiring.policy,
    log: wiring.logFor("api"),
    catalog: participantCatalog(config),
    registry: participantRegistry(wiring),
    participants: {
      registry: participantRegistry(wiring),
      builtIn: participantNames(config),
      urlPolicy: config.http,
      resolve: systemResolve,
      clock: wiring.clock,
    },
    bankServers: config.bankServers,
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

function bankParticipant(wiring: Wiring, server: string): Built {
  if (!wiring.config.bankServers.includes(server)) throw new Error(`unknown bank server ${server}`);
  return storeOf(wiring, `participant:${server}`, () => {
    const deps = participantDeps(wiring, server);
    return {
      participant: createBankParticipant({ ...deps, server, store: bankStore(wiring) }),
      log: deps.log,
    };
  });
}

function commerceParticipant(wiring: Wiring, name: string): Built {
  if (!isCommerceParticipant(name) || !wiring.config.commerce.participants.includes(name)) {
    throw new Error(`unknown e-commerce participant ${name}`);
  }
  return storeOf(wiring, `participant:${name}`, () => {
    const deps = participantDeps(wiring, name);
    const participant = createCommerceParticipant(name, {
      ...deps,
      stores: commerceStores(wiring),
      payment: wiring.config.commerce.payment,
    });
    return { participant, log: deps.log };
  });
}

const handlerOf = ({ participant, log }: Built): SqsHandler =>
  sqsBatchHandler(participantMessage, participant.handle, log);

/** One bank server's queue handler (its Lambda entry builds only this). */
export const bankParticipantRole = (wiring: Wiring, server: string): SqsHandler =>
  handlerOf(bankParticipant(wiring, server));

/** A bank server's scheduled check for prepared barriers it is in doubt about. */
export const bankInquiryRole = (wiring: Wiring, server: string): (() => Promise<number>) =>
  bankParticipant(wiring, server).participant.inquire;

/** One e-commerce participant's queue handler. */
export const commerceParticipantRole = (wiring: Wiring, name: string): SqsHandler =>
  handlerOf(commerceParticipant(wiring, name));

export const commerceInquiryRole = (wiring: Wiring, name: string): (() => Promise<number>) =>
  commerceParticipant(wiring, name).participant.inquire;

/** Any participant's queue handler, by name (the local runtime serves them all). */
export function participantRole(wiring: Wiring, name: string): SqsHandler {
  return wiring.config.bankServers.includes(name)
    ? bankParticipantRole(wiring, name)
    : commerceParticipantRole(wiring, name);
}

/** Any participant's scheduled check for prepared barriers it is in doubt about. */
export function participantInquiryRole(wiring: Wiring, name: string): () => Promise<number> {
  return wiring.config.bankServers.includes(name)
    ? bankInquiryRole(wiring, name)
    : commerceInquiryRole(wiring, name);
}

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
