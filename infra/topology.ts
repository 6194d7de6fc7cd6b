/**
 * The one description of concord's resources. The local runtime provisions and
 * wires from it; the cloud stack is generated from it. Plain data only.
 */

export interface TableSpec {
  /** Logical name; the physical name is `${prefix}-${name}`. */
  readonly name: string;
  readonly partitionKey: string;
  readonly ttlAttribute: string;
  readonly indexes: readonly IndexSpec[];
}

export interface IndexSpec {
  readonly name: string;
  readonly partitionKey: { readonly name: string; readonly type: "S" | "N" };
  readonly sortKey: { readonly name: string; readonly type: "S" | "N" };
}

export interface QueueSpec {
  readonly name: string;
  readonly visibilityTimeoutSeconds: number;
  readonly deadLetter: { readonly name: string; readonly maxReceiveCount: number };
}

export type FunctionRole = "api" | "coordinator" | "participant" | "sweeper";

export interface FunctionSpec {
  readonly name: string;
  readonly role: FunctionRole;
  /** Source of the deployable entry, relative to the repository root. */
  readonly entry: string;
  readonly timeoutSeconds: number;
  readonly memoryMb: number;
  readonly environment: Readonly<Record<string, string>>;
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
  readonly tables: { readonly transactions: TableSpec; readonly bank: TableSpec };
  readonly queues: readonly QueueSpec[];
  readonly functions: readonly FunctionSpec[];
}

export interface TopologyOptions {
  readonly prefix: string;
  readonly bankServers: readonly string[];
  /** Shards of the sweeper's due index; spreads the sparse index over partitions. */
  readonly dueShards: number;
  readonly sweepIntervalSeconds: number;
}

export const COORDINATOR_QUEUE = "coordinator";
export const DUE_INDEX = "due";

/** Each participant has its own queue, named after it. */
export const participantQueue = (participant: string): string => `participant-${participant}`;

const FUNCTION_TIMEOUT_SECONDS = 10;
/** Lambda's guidance: a queue's visibility timeout at least 6x its function's timeout. */
const VISIBILITY_TIMEOUT_SECONDS = FUNCTION_TIMEOUT_SECONDS * 6;
const MAX_RECEIVE_COUNT = 5;

function queue(name: string): QueueSpec {
  return {
    name,
    visibilityTimeoutSeconds: VISIBILITY_TIMEOUT_SECONDS,
    deadLetter: { name: `${name}-dlq`, maxReceiveCount: MAX_RECEIVE_COUNT },
  };
}

function sqsTrigger(queueName: string): SqsTriggerSpec {
  return { queue: queueName, batchSize: 10, maxBatchingWindowMs: 0, reportBatchItemFailures: true };
}

export function buildTopology(options: TopologyOptions): Topology {
  const { prefix, bankServers } = options;
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
          },
        ],
      },
      bank: { name: "bank", partitionKey: "pk", ttlAttribute: "expiresAt", indexes: [] },
    },
    queues: [queue(COORDINATOR_QUEUE), ...bankServers.map((s) => queue(participantQueue(s)))],
    functions: [
      {
        name: "api",
        role: "api",
        entry: "functions/api.ts",
        timeoutSeconds: 35,
        memoryMb: 512,
        environment: {},
      },
      {
        name: "coordinator",
        role: "coordinator",
        entry: "functions/coordinator.ts",
        timeoutSeconds: FUNCTION_TIMEOUT_SECONDS,
        memoryMb: 512,
        environment: {},
        trigger: sqsTrigger(COORDINATOR_QUEUE),
      },
      ...bankServers.map(
        (server): FunctionSpec => ({
          name: `participant-${server}`,
          role: "participant",
          entry: "functions/bank-participant.ts",
          timeoutSeconds: FUNCTION_TIMEOUT_SECONDS,
          memoryMb: 512,
          environment: { CONCORD_PARTICIPANT: server },
          trigger: sqsTrigger(participantQueue(server)),
        }),
      ),
      {
        name: "sweeper",
        role: "sweeper",
        entry: "functions/sweeper.ts",
        timeoutSeconds: 60,
        memoryMb: 512,
        environment: {},
        schedule: { rateSeconds: options.sweepIntervalSeconds },
      },
    ],
  };
}

/** Physical resource name for a logical table or queue name. */
export const physicalName = (topology: Pick<Topology, "prefix">, name: string): string =>
  `${topology.prefix}-${name}`;
