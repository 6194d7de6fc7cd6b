/**
 * The one description of concord's resources. The local runtime provisions and
 * wires from it; the cloud stack is generated from it. Plain data only.
 */

export interface TableSpec {
  /** Logical name; the physical name is `${prefix}-${name}`. */
  readonly name: string;
  readonly partitionKey: string;
  /** Expiry attribute (DynamoDB TTL); absent for records that never expire. */
  readonly ttlAttribute?: string;
  readonly indexes: readonly IndexSpec[];
}

export interface IndexSpec {
  readonly name: string;
  readonly partitionKey: { readonly name: string; readonly type: "S" | "N" };
  readonly sortKey: { readonly name: string; readonly type: "S" | "N" };
  /** Attributes copied into the index; ALL when absent. */
  readonly projection?: "ALL" | "KEYS_ONLY";
}

export interface QueueSpec {
  readonly name: string;
  readonly visibilityTimeoutSeconds: number;
  readonly deadLetter: { readonly name: string; readonly maxReceiveCount: number };
}

export type FunctionRole = "api" | "coordinator" | "participant" | "dispatcher" | "sweeper";

/**
 * What a function touches besides the queue that triggers it: the deployment grants
 * exactly this (least privilege) and nothing else.
 */
export interface FunctionAccess {
  /** Tables it reads and writes, by logical name. */
  readonly tables: readonly string[];
  /** Tables it only reads, by logical name. */
  readonly reads?: readonly string[];
  /** Queues it sends to, by logical name. */
  readonly sendsTo: readonly string[];
}

export interface FunctionSpec {
  readonly name: string;
  readonly role: FunctionRole;
  /** Source of the deployable entry, relative to the repository root. */
  readonly entry: string;
  readonly timeoutSeconds: number;
  readonly memoryMb: number;
  readonly environment: Readonly<Record<string, string>>;
  readonly access: FunctionAccess;
  /** Served over HTTP: a Lambda function URL on AWS and LocalStack, a local HTTP server otherwise. */
  readonly http?: true;
  readonly trigger?: SqsTriggerSpec;
  readonly schedule?: { readonly rateSeconds: number };
}

export interface SqsTriggerSpec {
  readonly queue: string;
  readonly batchSize: number;
  readonly maxBatchingWindowMs: number;
  readonly reportBatchItemFailures: true;
}

export interface Topology {
  readonly prefix: string;
  /** Partitions of the sparse due index, so that no single partition is hot. */
  readonly dueShards: number;
  /**
   * The coordinator's, the bank's, the registry of HTTP participants, and one per
   * e-commerce participant (named after it).
   */
  readonly tables: {
    readonly transactions: TableSpec;
    readonly bank: TableSpec;
    readonly participants: TableSpec;
    readonly "transaction-participants": TableSpec;
  } & Readonly<Record<string, TableSpec>>;
  readonly queues: readonly QueueSpec[];
  readonly functions: readonly FunctionSpec[];
}

export interface TopologyOptions {
  readonly prefix: string;
  readonly bankServers: readonly string[];
  /** E-commerce participants: each gets a table of its own, named after it. */
  readonly commerceParticipants?: readonly string[];
  /** Shards of the sweeper's due index; spreads the sparse index over partitions. */
  readonly dueShards: number;
  readonly sweepIntervalSeconds: number;
  /**
   * How long one invocation of a scheduled function (the sweeper, a participant's
   * in-doubt check) keeps passing; its timeout leaves room for the last pass.
   * The interval plus 5 s when absent.
   */
  readonly scheduledRunSeconds?: number;
}

export const COORDINATOR_QUEUE = "coordinator";
/** Messages for registered HTTP participants, delivered over HTTP by the dispatcher. */
export const DISPATCHER_QUEUE = "dispatcher";
/** The registry of HTTP participants (`POST /v1/participants`). */
export const PARTICIPANTS_TABLE = "participants";
/**
 * Undecided or unacknowledged transactions by due time (sharded): the sweeper's
 * work. Keys only: the sweeper reads ids, and a copy of the whole record would
 * be rewritten by every write to it (a vote, an ack), not only when it falls due.
 */
export const DUE_INDEX = "due-keys";
/** Transactions by client-facing status (sharded), newest first: the listing endpoint. */
export const STATUS_INDEX = "status";
/** Transactions by protocol (sharded), newest first: the listing by protocol, and without a filter. */
export const PROTOCOL_INDEX = "protocol";
/**
 * Transactions by their first and by their second participant (sorted names,
 * sharded), newest first: an index keys on one value, so a record carries two.
 */
export const PARTICIPANT_1_INDEX = "participant1";
export const PARTICIPANT_2_INDEX = "participant2";
/**
 * One small item per (transaction, participant) beyond the record's two, written
 * beside the record's create.
 */
export const TX_PARTICIPANTS_TABLE = "transaction-participants";
/** Over TX_PARTICIPANTS_TABLE: a participant's transactions (sharded), newest first. */
export const PARTICIPANT_INDEX = "participant";
/** Sparse index of preparing transactions that wait for a lock: the wait-for graph's edges. */
export const WAITING_INDEX = "waiting";
/** Sparse index of a participant's prepared barriers, by age: who may be in doubt. */
export const PREPARED_INDEX = "prepared";

/** The one entry of every built-in participant's functions (bank servers and e-commerce alike). */
export const PARTICIPANT_ENTRY = "functions/participant.ts";

/** Each built-in participant has its own queue, named after it. */
export const participantQueue = (participant: string): string => `participant-${participant}`;

/**
 * Where a message for `participant` goes: a built-in participant's own queue
 * when the topology has one, else the dispatcher's queue (a registered HTTP
 * participant). Everything that sends participant messages routes through this.
 */
export function queueFor(topology: Pick<Topology, "queues">, participant: string): string {
  const own = participantQueue(participant);
  return topology.queues.some((q) => q.name === own) ? own : DISPATCHER_QUEUE;
}

const FUNCTION_TIMEOUT_SECONDS = 10;
/** The dispatcher's timeout: one HTTP call (CONCORD_HTTP_TIMEOUT_MS) must fit well inside it. */
export const DISPATCHER_TIMEOUT_SECONDS = FUNCTION_TIMEOUT_SECONDS;
/** Lambda's guidance: a queue's visibility timeout at least 6x its function's timeout. */
const VISIBILITY_TIMEOUT_SECONDS = FUNCTION_TIMEOUT_SECONDS * 6;
const MAX_RECEIVE_COUNT = 5;

/** The dead-letter queue of a queue (logical names). */
export const deadLetterQueue = (queue: string): string => `${queue}-dlq`;

function queue(name: string): QueueSpec {
  return {
    name,
    visibilityTimeoutSeconds: VISIBILITY_TIMEOUT_SECONDS,
    deadLetter: { name: deadLetterQueue(name), maxReceiveCount: MAX_RECEIVE_COUNT },
  };
}

function sqsTrigger(queueName: string): SqsTriggerSpec {
  return { queue: queueName, batchSize: 10, maxBatchingWindowMs: 0, reportBatchItemFailures: true };
}

/** A participant-kit table: resources, barriers and step barriers under `pk`, prepared barriers indexed. */
function participantTable(name: string): TableSpec {
  return {
    name,
    partitionKey: "pk",
    ttlAttribute: "expiresAt",
    // Sparse: only prepared barriers carry preparedShard (the participant) and preparedAt.
    indexes: [
      {
        name: PREPARED_INDEX,
        partitionKey: { name: "preparedShard", type: "S" },
        sortKey: { name: "preparedAt", type: "N" },
      },
    ],
  };
}

/** Room a scheduled function keeps after its run for the last pass to finish. */
const SCHEDULED_MARGIN_SECONDS = 15;
const scheduledTimeout = (runSeconds: number): number =>
  Math.max(FUNCTION_TIMEOUT_SECONDS, runSeconds + SCHEDULED_MARGIN_SECONDS);

interface ScheduleOptions {
  readonly rateSeconds: number;
  readonly runSeconds: number;
}

/**
 * A built-in participant's functions, from the one participant entry: one triggered by its own queue,
 * sending to the coordinator and to its own queue (a PREPARE waiting for a lock
 * puts itself back, delayed); one on the schedule, asking the coordinator about
 * barriers it is in doubt about. Apart, because the scheduled one runs through
 * its minute, and a queue's visibility timeout must be 6x its function's timeout.
 */
function participantFunctions(
  participant: string,
  table: string,
  schedule: ScheduleOptions,
  participantQueues: readonly string[],
): FunctionSpec[] {
  const environment = { CONCORD_PARTICIPANT: participant };
  const entry = PARTICIPANT_ENTRY;
  // Its votes, acks and inquiries are applied in its own invocation (direct votes): it
  // writes the transaction record and sends the decision to every participant of the
  // transaction; the coordinator queue is the fallback.
  const answers = { tables: [table, "transactions"], sendsTo: [COORDINATOR_QUEUE, ...participantQueues] };
  return [
    {
      name: participantQueue(participant),
      role: "participant",
      entry,
      timeoutSeconds: FUNCTION_TIMEOUT_SECONDS,
      memoryMb: 512,
      environment,
      access: answers,
      trigger: sqsTrigger(participantQueue(participant)),
    },
    {
      name: `in-doubt-${participant}`,
      role: "participant",
      entry,
      timeoutSeconds: scheduledTimeout(schedule.runSeconds),
      // Mostly asleep between passes: billed by duration, so the least memory that runs it.
      memoryMb: 256,
      environment,
      access: answers,
      schedule: { rateSeconds: schedule.rateSeconds },
    },
  ];
}

export function buildTopology(options: TopologyOptions): Topology {
  const { prefix, bankServers } = options;
  const commerce = options.commerceParticipants ?? [];
  const participants = [...bankServers, ...commerce];
  // Every sender of participant messages may also reach HTTP participants, through the dispatcher.
  const participantQueues = [...participants.map(participantQueue), DISPATCHER_QUEUE];
  const schedule: ScheduleOptions = {
    rateSeconds: options.sweepIntervalSeconds,
    runSeconds: options.scheduledRunSeconds ?? options.sweepIntervalSeconds + 5,
  };
  return {
    prefix,
    dueShards: options.dueShards,
    tables: {
      transactions: {
        name: "transactions",
        partitionKey: "id",
        ttlAttribute: "expiresAt",
        // Sparse: only undecided or unacknowledged transactions carry dueShard/dueAt.
        indexes: [
          {
            name: DUE_INDEX,
            partitionKey: { name: "dueShard", type: "S" },
            sortKey: { name: "dueAt", type: "N" },
            projection: "KEYS_ONLY",
          },
          {
            name: WAITING_INDEX,
            partitionKey: { name: "waitShard", type: "S" },
            sortKey: { name: "id", type: "S" },
          },
          // `<status>#<shard>`: spread over shards so no status is one hot partition;
          // keys only, so the index is written only when the status changes.
          {
            name: STATUS_INDEX,
            partitionKey: { name: "statusShard", type: "S" },
            sortKey: { name: "createdAt", type: "N" },
            projection: "KEYS_ONLY",
          },
          // `<protocol>#<shard>`, set at create and never changed: written once per transaction.
          {
            name: PROTOCOL_INDEX,
            partitionKey: { name: "protocolShard", type: "S" },
            sortKey: { name: "createdAt", type: "N" },
            projection: "KEYS_ONLY",
          },
          // `<participant>#<shard>` of the first and second participant: sparse, set at
          // create and never changed, so each is written once per transaction.
          ...[PARTICIPANT_1_INDEX, PARTICIPANT_2_INDEX].map(
            (name): IndexSpec => ({
              name,
              partitionKey: { name: `${name}Shard`, type: "S" },
              sortKey: { name: "createdAt", type: "N" },
              projection: "KEYS_ONLY",
            }),
          ),
        ],
      },
      [TX_PARTICIPANTS_TABLE]: {
        name: TX_PARTICIPANTS_TABLE,
        // `<transaction id>/<participant>`: neither holds a `/`.
        partitionKey: "key",
        ttlAttribute: "expiresAt",
        indexes: [
          {
            name: PARTICIPANT_INDEX,
            partitionKey: { name: "participantShard", type: "S" },
            sortKey: { name: "createdAt", type: "N" },
            projection: "KEYS_ONLY",
          },
        ],
      },
      bank: participantTable("bank"),
      // Registrations never expire: a transaction may name a participant for as long as it runs.
      participants: { name: PARTICIPANTS_TABLE, partitionKey: "name", indexes: [] },
      // One table per e-commerce participant: each function is granted its own table
      // only, and a team's participant never shares capacity or keys with another's.
      ...Object.fromEntries(commerce.map((name) => [name, participantTable(name)])),
    },
    queues: [
      queue(COORDINATOR_QUEUE),
      ...participants.map((p) => queue(participantQueue(p))),
      queue(DISPATCHER_QUEUE),
    ],
    functions: [
      {
        name: "api",
        role: "api",
        entry: "functions/api.ts",
        timeoutSeconds: 35,
        memoryMb: 512,
        environment: {},
        // Starts transactions (PREPARE to participants), seeds and reads resources, admin aborts,
        // registers HTTP participants.
        access: {
          tables: ["transactions", TX_PARTICIPANTS_TABLE, "bank", PARTICIPANTS_TABLE, ...commerce],
          sendsTo: participantQueues,
        },
        http: true,
      },
      {
        name: "coordinator",
        role: "coordinator",
        entry: "functions/coordinator.ts",
        timeoutSeconds: FUNCTION_TIMEOUT_SECONDS,
        memoryMb: 512,
        environment: {},
        access: { tables: ["transactions"], sendsTo: participantQueues },
        trigger: sqsTrigger(COORDINATOR_QUEUE),
      },
      // Every built-in participant runs the same entry; CONCORD_PARTICIPANT says which.
      ...bankServers.flatMap((server) => participantFunctions(server, "bank", schedule, participantQueues)),
      ...commerce.flatMap((name) => participantFunctions(name, name, schedule, participantQueues)),
      {
        // Calls registered HTTP participants for the messages addressed to them; a failed
        // call goes back on its own queue, delayed. Reads the registry; applies the
        // answers it gets to the transaction record itself (direct votes), sending the
        // decision to every participant, the coordinator queue as the fallback.
        name: "dispatcher",
        role: "dispatcher",
        entry: "functions/dispatcher.ts",
        timeoutSeconds: DISPATCHER_TIMEOUT_SECONDS,
        memoryMb: 512,
        environment: {},
        access: {
          tables: ["transactions"],
          reads: [PARTICIPANTS_TABLE],
          sendsTo: [COORDINATOR_QUEUE, ...participantQueues],
        },
        trigger: sqsTrigger(DISPATCHER_QUEUE),
      },
      {
        name: "sweeper",
        role: "sweeper",
        entry: "functions/sweeper.ts",
        timeoutSeconds: scheduledTimeout(schedule.runSeconds),
        memoryMb: 512,
        environment: {},
        access: { tables: ["transactions"], sendsTo: participantQueues },
        schedule: { rateSeconds: schedule.rateSeconds },
      },
    ],
  };
}

/** Physical resource name for a logical table or queue name. */
export const physicalName = (topology: Pick<Topology, "prefix">, name: string): string =>
  `${topology.prefix}-${name}`;
