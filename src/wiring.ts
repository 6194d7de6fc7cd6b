/**
 * What the roles of one process share, and the stores they build on first
 * use. The role builders (roles.ts) take a Wiring; the Lambda entries in
 * functions/ and the local runtime both make one, so the same code runs
 * everywhere.
 *
 * Each store is built once per wiring by an accessor of its own (typed, no
 * string keys), so a Lambda bundle built from one entry holds only the stores
 * its role uses.
 */
import type { Logger } from "@aws-lambda-powertools/logger";
import { physicalName, TX_PARTICIPANTS_TABLE } from "../infra/topology.ts";
import type { AwsClients } from "./adapters/aws-clients.ts";
import { createDynamoDbParticipantRegistry } from "./adapters/dynamodb-participant-registry.ts";
import { createDynamoDbParticipantStore } from "./adapters/dynamodb-participant-store.ts";
import { createDynamoDbTransactionListing } from "./adapters/dynamodb-transaction-listing.ts";
import { createDynamoDbTransactionStore } from "./adapters/dynamodb-transaction-store.ts";
import { createSqsBus } from "./adapters/sqs-bus.ts";
import type { Config } from "./config.ts";
import { DecisionSignal } from "./coordinator/decision-signal.ts";
import { createDirectInbox, type DirectInboxDeps } from "./coordinator/direct-inbox.ts";
import { createRecordCache, type RecordCache } from "./coordinator/record-cache.ts";
import type { Policy } from "./core/two-phase-commit.ts";
import { armCrash, type Crash } from "./crash-points.ts";
import { rememberingRegistry } from "./http-participants/registry.ts";
import { createRootLogger } from "./log.ts";
import { type Metrics, noMetrics } from "./metrics/metrics.ts";
import { type KindName, PARTICIPANT_KINDS } from "./participants/kinds.ts";
import type { CoordinatorInbox, VoteWithPrepare } from "./ports/coordinator-inbox.ts";
import type { MessageBus } from "./ports/message-bus.ts";
import { holdingForSelf } from "./self-delivery.ts";

export interface RoleOptions {
  /** The root logger; from the configured level when absent. */
  readonly log?: Logger;
  readonly clock?: () => number;
  readonly queueUrls?: ReadonlyMap<string, string>;
  /**
   * Wraps the bus every role sends through: fault tests drop, duplicate or reorder
   * messages here. A participant's answers pass it before they are applied directly.
   */
  readonly wrapBus?: (bus: MessageBus) => MessageBus;
  /**
   * Participants' answers (votes, acks, step results, inquiries) are applied by the
   * coordinator's handling in the answering invocation, the coordinator queue only
   * the fallback (direct votes, src/coordinator/direct-inbox.ts). False sends
   * every answer through the coordinator queue, as before. When absent: unless
   * CONCORD_QUEUED_ANSWERS is set.
   */
  readonly directAnswers?: boolean;
  /**
   * With direct answers, a message the coordinator's handling sends the answering
   * participant itself is handled in its invocation, not through its queue
   * (src/self-delivery.ts). When absent: CONCORD_SELF_DELIVERY (on by default).
   */
  readonly selfDelivery?: boolean;
  /** Crash-point injection; from CONCORD_CRASH_AT when absent. */
  readonly crash?: Crash;
  /** Where the roles count things: a Prometheus registry locally, CloudWatch on Lambda; none when absent. */
  readonly metrics?: Metrics;
}

/** What the roles of one process share: configuration, clients, the bus, the clock, the root logger, the decision signal. */
export interface Wiring {
  readonly config: Config;
  readonly clients: AwsClients;
  /**
   * Where every role sends. Its `toCoordinator` (only participants and the
   * dispatcher answer the coordinator) goes to the coordinator queue until a
   * role of this process installs the coordinator's handling
   * (`applyAnswersWith`): from then on it applies each answer directly, the
   * queue the fallback.
   */
  readonly bus: MessageBus;
  /**
   * Installs the coordinator's handling (`handleGroup`, built by `handling` only
   * when it is used) as what applies the
   * answers sent on `bus`: the direct inbox. Called by the roles that answer;
   * only the first call counts. Does nothing when answers are queued
   * (CONCORD_QUEUED_ANSWERS, RoleOptions.directAnswers). Kept out of this file
   * so that a bundle whose role never answers holds no coordinator code.
   */
  readonly applyAnswersWith: (
    handling: () => Pick<DirectInboxDeps, "handleGroup" | "handleVoteWithPrepare">,
  ) => void;
  /**
   * Applies a participant's yes vote with the prepare it stands on, through the
   * direct inbox (ports/coordinator-inbox.ts); before one is installed, or with
   * queued answers, it takes none and resolves.
   */
  readonly voteWithPrepare: VoteWithPrepare["voteWithPrepare"];
  /**
   * Whether the roles that answer hand what the coordinator's handling sends
   * their own participant to their own handler (self-delivery): only with direct
   * answers, since only then does that handling run in their invocation.
   */
  readonly selfDelivery: boolean;
  readonly clock: () => number;
  /** The root logger: each role logs through a child of it. */
  readonly log: Logger;
  readonly policy: Policy;
  /** Wakes an API's `?wait=` when a coordinator runs in the same process (it reports to it). */
  readonly decisions: DecisionSignal;
  /** Transaction records the API and coordinator of this process last wrote: their next write needs no read. */
  readonly records: RecordCache;
  readonly crash: Crash;
  /** One per process: every role of the process counts into it. */
  readonly metrics: Metrics;
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
  const log = options.log ?? createRootLogger(config.log.level);
  const directAnswers = options.directAnswers ?? !config.participants.queuedAnswers;
  const selfDelivery = directAnswers && (options.selfDelivery ?? config.participants.selfDelivery);
  // Answers take the coordinator queue until a role that answers installs the direct inbox.
  let direct: (CoordinatorInbox & VoteWithPrepare) | undefined;
  const sent: MessageBus = {
    toCoordinator: (message) => (direct ?? sqsBus).toCoordinator(message),
    toParticipant: (participant, message, sendOptions) =>
      sqsBus.toParticipant(participant, message, sendOptions),
  };
  const routed = selfDelivery ? holdingForSelf(sent) : sent;
  return {
    config,
    clients,
    bus: options.wrapBus ? options.wrapBus(routed) : routed,
    applyAnswersWith(handling) {
      if (!directAnswers || direct !== undefined) return;
      const { handleGroup, handleVoteWithPrepare } = handling();
      direct = createDirectInbox({
        handleGroup,
        ...(handleVoteWithPrepare ? { handleVoteWithPrepare } : {}),
        fallback: sqsBus,
        log: log.createChild({ serviceName: "concord-direct-inbox" }),
      });
    },
    voteWithPrepare: (vote, own) => direct?.voteWithPrepare(vote, own) ?? Promise.resolve(),
    selfDelivery,
    clock: options.clock ?? Date.now,
    log,
    policy: policyOf(config),
    decisions: new DecisionSignal(),
    records: createRecordCache(),
    crash: options.crash ?? armCrash(config.faults.crashAt),
    metrics: options.metrics ?? noMetrics,
  };
}

/** `create(wiring)` once per wiring, on first use. */
export function once<T>(create: (wiring: Wiring) => T): (wiring: Wiring) => T {
  const built = new WeakMap<Wiring, T>();
  return (wiring) => {
    let value = built.get(wiring);
    if (value === undefined) {
      value = create(wiring);
      built.set(wiring, value);
    }
    return value;
  };
}

/** `create(wiring, key)` once per wiring and key, on first use. */
export function oncePer<K, T>(create: (wiring: Wiring, key: K) => T): (wiring: Wiring, key: K) => T {
  const built = new WeakMap<Wiring, Map<K, T>>();
  return (wiring, key) => {
    let byKey = built.get(wiring);
    if (!byKey) {
      byKey = new Map();
      built.set(wiring, byKey);
    }
    let value = byKey.get(key);
    if (value === undefined) {
      value = create(wiring, key);
      byKey.set(key, value);
    }
    return value;
  };
}

const tableName = (wiring: Wiring, logical: string) => physicalName(wiring.config.topology, logical);

export const transactionStore = /* @__PURE__ */ once((wiring: Wiring) =>
  createDynamoDbTransactionStore({
    doc: wiring.clients.doc,
    tableName: tableName(wiring, wiring.config.topology.tables.transactions.name),
    shards: wiring.config.topology.dueShards,
    retentionSeconds: wiring.config.timing.retentionSeconds,
    participantsTableName: tableName(wiring, TX_PARTICIPANTS_TABLE),
  }),
);

/** Pages of transactions for operators, over the indexes of the transactions and transaction-participants tables. */
export const transactionListing = /* @__PURE__ */ once((wiring: Wiring) =>
  createDynamoDbTransactionListing({
    doc: wiring.clients.doc,
    tableName: tableName(wiring, wiring.config.topology.tables.transactions.name),
    participantsTableName: tableName(wiring, TX_PARTICIPANTS_TABLE),
    shards: wiring.config.topology.dueShards,
  }),
);

/** Registered HTTP participants, each remembered once read (a registration never changes). */
export const participantRegistry = /* @__PURE__ */ once((wiring: Wiring) =>
  rememberingRegistry(
    createDynamoDbParticipantRegistry({
      doc: wiring.clients.doc,
      tableName: tableName(wiring, wiring.config.topology.tables.participants.name),
    }),
  ),
);

/** A built-in kind's store, on the table named after it; the kind's participants share it (the bank servers). */
export const kindStore = /* @__PURE__ */ oncePer((wiring: Wiring, kind: KindName) =>
  createDynamoDbParticipantStore({
    doc: wiring.clients.doc,
    tableName: tableName(wiring, kind),
    model: PARTICIPANT_KINDS[kind].model,
    retentionSeconds: wiring.config.timing.retentionSeconds,
  }),
);
