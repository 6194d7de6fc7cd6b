/**
 * Builds each role's handler from configuration and AWS clients, once per warm
 * process. The Lambda entries in functions/ and the local runtime both use it,
 * so the same code runs everywhere.
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
import { type SqsHandler, sqsBatchHandler } from "./handlers/sqs-batch.ts";
import { createLog, type Log } from "./log.ts";
import { createBankParticipant } from "./participants/bank/bank-participant.ts";
import { bankCatalog } from "./participants/catalog.ts";

export interface RoleOptions {
  readonly log?: (service: string) => Log;
  readonly clock?: () => number;
  readonly queueUrls?: ReadonlyMap<string, string>;
  /** Wraps the SQS bus: fault tests drop, duplicate or reorder messages here. */
  readonly wrapBus?: (bus: MessageBus) => MessageBus;
}

export interface Roles {
  readonly api: App;
  readonly coordinator: SqsHandler;
  participant(server: string): SqsHandler;
  readonly sweeper: () => Promise<SweepReport>;
}

export const policyOf = (config: Config): Policy => ({
  prepareRetryMs: config.timing.prepareRetryMs,
  decisionRetryMs: config.timing.decisionRetryMs,
  backoffCapMs: config.timing.backoffCapMs,
  stalledAfterAttempts: config.timing.stalledAfterAttempts,
  maxEvents: 100,
});

export function createRoles(config: Config, clients: AwsClients, options: RoleOptions = {}): Roles {
  const logFor = options.log ?? ((service: string) => createLog(service));
  const clock = options.clock ?? Date.now;
  const { topology } = config;
  const sqsBus = createSqsBus({
    sqs: clients.sqs,
    topology,
    ...(options.queueUrls ? { queueUrls: options.queueUrls } : {}),
  });
  const bus = options.wrapBus ? options.wrapBus(sqsBus) : sqsBus;
  const store = createDynamoDbTransactionStore({
    doc: clients.doc,
    tableName: physicalName(topology, topology.tables.transactions.name),
    shards: topology.dueShards,
    retentionSeconds: config.timing.retentionSeconds,
  });
  const bank = createDynamoDbBankStore({
    doc: clients.doc,
    tableName: physicalName(topology, topology.tables.bank.name),
    retentionSeconds: config.timing.retentionSeconds,
  });
  const policy = policyOf(config);
  const decisions = new DecisionSignal();
  const onWrite = (tx: TxRecord) => decisions.changed(tx);

  let api: App | undefined;
  let coordinator: SqsHandler | undefined;
  let sweeper: (() => Promise<SweepReport>) | undefined;
  const participants = new Map<string, SqsHandler>();

  return {
    get api() {
      api ??= createApp({
        store,
        bank,
        bus,
        clock,
        policy,
        log: logFor("api"),
        catalog: bankCatalog(config.bankServers),
        bankServers: config.bankServers,
        keys: { client: config.apiKeys, admin: config.adminKeys },
        defaultTimeoutMs: config.timing.defaultTimeoutMs,
        maxTimeoutMs: config.timing.maxTimeoutMs,
        decisions,
      });
      return api;
    },
    get coordinator() {
      if (!coordinator) {
        const log = logFor("coordinator");
        const c = createCoordinator({ store, bus, clock, log, policy, onWrite });
        decisions.active = true;
        coordinator = sqsBatchHandler(coordinatorMessage, c.handle, log);
      }
      return coordinator;
    },
    participant(server) {
      let handler = participants.get(server);
      if (!handler) {
        if (!config.bankServers.includes(server)) throw new Error(`unknown participant ${server}`);
        const log = logFor(`participant-${server}`);
        const p = createBankParticipant({ server, store: bank, bus, clock, log });
        handler = sqsBatchHandler(participantMessage, p.handle, log);
        participants.set(server, handler);
      }
      return handler;
    },
    get sweeper() {
      if (!sweeper) {
        const s = createSweeper({ store, bus, clock, log: logFor("sweeper"), policy, onWrite });
        sweeper = s.sweep;
      }
      return sweeper;
    },
  };
}
