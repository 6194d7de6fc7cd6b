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
import { createDynamoDbTransactionStore } from "./adapters/dynamodb-transaction-store.ts";
import { createSqsBus, type MessageBus } from "./adapters/sqs-bus.ts";
import { type App, createApp } from "./api/app.ts";
import type { Config } from "./config.ts";
import { createCoordinator } from "./coordinator/coordinator.ts";
import { DecisionSignal } from "./coordinator/decision-signal.ts";
import { createSweeper, type SweepReport } from "./coordinator/sweeper.ts";
import { coordinatorMessage, participantMessage } from "./core/messages.ts";
import type { TxRecord } from "./core/transaction.ts";
import type { Policy } from "./core/two-phase-commit.ts";
import { type Crash, crashFromEnv } from "./crash-points.ts";
import { type SqsHandler, sqsBatchHandler } from "./handlers/sqs-batch.ts";
import { sqsGroupedBatchHandler } from "./handlers/sqs-grouped-batch.ts";
import { createLog, type Log } from "./log.ts";
import { createBankParticipant } from "./participants/bank/bank-participant.ts";
import { bankCatalog } from "./participants/catalog.ts";

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

const bankStore = (wiring: Wiring) =>
  storeOf(wiring, "bank", () => {
    const { topology, timing } = wiring.config;
    return createDynamoDbBankStore({
      doc: wiring.clients.doc,
      tableName: physicalName(topology, topology.tables.bank.name),
      retentionSeconds: timing.retentionSeconds,
    });
  });

const onWrite = (wiring: Wiring) => (tx: TxRecord) => wiring.decisions.changed(tx);

export function apiRole(wiring: Wiring): App {
  const { config } = wiring;
  return createApp({
    store: transactionStore(wiring),
    bank: bankStore(wiring),
    bus: wiring.bus,
    clock: wiring.clock,
    policy: wiring.policy,
    log: wiring.logFor("api"),
    catalog: bankCatalog(config.bankServers),
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

function bankParticipant(wiring: Wiring, server: string) {
  if (!wiring.config.bankServers.includes(server)) throw new Error(`unknown participant ${server}`);
  return storeOf(wiring, `participant:${server}`, () => {
    const { lockPolicy, lockWaitBudgetMs, inDoubtAfterMs } = wiring.config.participants;
    const log = wiring.logFor(`participant-${server}`);
    const participant = createBankParticipant({
      server,
      store: bankStore(wiring),
      bus: wiring.bus,
      clock: wiring.clock,
      log,
      lockPolicy,
      waitBudgetMs: lockWaitBudgetMs,
      inDoubtAfterMs,
      crash: wiring.crash,
    });
    return { participant, log };
  });
}

export function participantRole(wiring: Wiring, server: string): SqsHandler {
  const { participant, log } = bankParticipant(wiring, server);
  return sqsBatchHandler(participantMessage, participant.handle, log);
}

/** The participant's scheduled check for prepared barriers it is in doubt about. */
export function participantInquiryRole(wiring: Wiring, server: string): () => Promise<number> {
  return bankParticipant(wiring, server).participant.inquire;
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

/** Every role of one process, each built on first use; the local runtime runs any subset of them. */
export function createRoles(config: Config, clients: AwsClients, options: RoleOptions = {}): Roles {
  const wiring = createWiring(config, clients, options);
  let api: App | undefined;
  let coordinator: SqsHandler | undefined;
  let sweeper: (() => Promise<SweepReport>) | undefined;
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
  };
}
