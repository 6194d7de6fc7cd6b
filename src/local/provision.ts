import {
  type AttributeDefinition,
  CreateTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  type DynamoDBClient,
  type GlobalSecondaryIndex,
  ResourceInUseException,
  UpdateTableCommand,
  UpdateTimeToLiveCommand,
} from "@aws-sdk/client-dynamodb";
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  QueueNameExists,
  SetQueueAttributesCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import {
  type IndexSpec,
  physicalName,
  type QueueSpec,
  type TableSpec,
  type Topology,
} from "../../infra/topology.ts";
import { sleep } from "../timers.ts";

type Log = Pick<Console, "info" | "warn">;

export interface ProvisionClients {
  readonly dynamodb: DynamoDBClient;
  readonly sqs: SQSClient;
}

export interface ProvisionOptions {
  /**
   * Overrides every queue's visibility timeout. The topology's value (6x the function
   * timeout, Lambda's guidance) makes a failed message wait a minute; local runs and
   * tests want retries within seconds.
   */
  readonly visibilityTimeoutSeconds?: number;
  /** Overrides every queue's receive count before a message moves to its dead-letter queue. */
  readonly maxReceiveCount?: number;
  /** How long to wait for a new table to become ACTIVE; defaults to 60 s. */
  readonly tableActiveTimeoutMs?: number;
  readonly log?: Log;
}

/** Logical queue name (including dead-letter queues, e.g. `coordinator-dlq`) → queue URL. */
export type QueueUrls = ReadonlyMap<string, string>;

export class ProvisionError extends Error {
  override name = "ProvisionError";
}

/** Dead letters are kept as long as SQS allows, so an operator has time to look at them. */
const DEAD_LETTER_RETENTION_SECONDS = 14 * 86_400;
const TABLE_POLL_MS = 200;
const silent: Log = { info: () => {}, warn: () => {} };

/**
 * Creates every table and queue of the topology, idempotently: a second call finds
 * everything in place and changes nothing (a queue whose attributes differ, e.g. a
 * different visibility timeout override, is updated to the wanted ones).
 *
 * An existing table that lacks an index of the topology (data kept from an older
 * version, e.g. `npm start`'s .concord/data) gets it added; other differences of
 * an existing table are left alone.
 */
export async function provision(
  topology: Topology,
  clients: ProvisionClients,
  options: ProvisionOptions = {},
): Promise<QueueUrls> {
  const log = options.log ?? silent;
  const tables = Object.values(topology.tables);
  const [, queueEntries] = await Promise.all([
    Promise.all(tables.map((table) => ensureTable(topology, table, clients.dynamodb, options, log))),
    Promise.all(
      topology.queues.map((queue) => ensureQueueWithDeadLetter(topology, queue, clients.sqs, options, log)),
    ),
  ]);
  return new Map(queueEntries.flat());
}

async function ensureTable(
  topology: Topology,
  spec: TableSpec,
  dynamodb: DynamoDBClient,
  options: ProvisionOptions,
  log: Log,
): Promise<void> {
  const tableName = physicalName(topology, spec.name);
  const attributes = new Map<string, AttributeDefinition>([
    [spec.partitionKey, { AttributeName: spec.partitionKey, AttributeType: "S" }],
  ]);
  for (const index of spec.indexes) {
    for (const key of [index.partitionKey, index.sortKey]) {
      attributes.set(key.name, { AttributeName: key.name, AttributeType: key.type });
    }
  }
  try {
    await dynamodb.send(
      new CreateTableCommand({
        TableName: tableName,
        BillingMode: "PAY_PER_REQUEST",
        KeySchema: [{ AttributeName: spec.partitionKey, KeyType: "HASH" }],
        AttributeDefinitions: [...attributes.values()],
        ...(spec.indexes.length > 0 ? { GlobalSecondaryIndexes: spec.indexes.map(indexOf) } : {}),
      }),
    );
    log.info("table created", { table: tableName });
  } catch (err) {
    if (!(err instanceof ResourceInUseException)) throw err;
  }
  const activeTimeoutMs = options.tableActiveTimeoutMs ?? 60_000;
  const existingIndexes = await waitUntilActive(dynamodb, tableName, activeTimeoutMs);
  // One at a time: DynamoDB creates at most one index per UpdateTable call.
  for (const index of spec.indexes.filter((i) => !existingIndexes.includes(i.name))) {
    await addIndex(dynamodb, tableName, index, attributes);
    log.info("index added to an existing table", { table: tableName, index: index.name });
    await waitUntilActive(dynamodb, tableName, activeTimeoutMs);
  }
  if (spec.ttlAttribute) await ensureTimeToLive(dynamodb, tableName, spec.ttlAttribute);
}

function indexOf(index: IndexSpec): GlobalSecondaryIndex {
  return {
    IndexName: index.name,
    KeySchema: [
      { AttributeName: index.partitionKey.name, KeyType: "HASH" },
      { AttributeName: index.sortKey.name, KeyType: "RANGE" },
    ],
    Projection: { ProjectionType: index.projection ?? "ALL" },
  };
}

/**
 * Adds a missing index; DynamoDB fills it from the items already there. Another
 * provision running at the same time may add it first, which is as good.
 */
async function addIndex(
  dynamodb: DynamoDBClient,
  tableName: string,
  index: IndexSpec,
  attributes: ReadonlyMap<string, AttributeDefinition>,
): Promise<void> {
  const keys = [index.partitionKey.name, index.sortKey.name];
  try {
    await dynamodb.send(
      new UpdateTableCommand({
        TableName: tableName,
        AttributeDefinitions: [...attributes.values()].filter((a) => keys.includes(a.AttributeName ?? "")),
        GlobalSecondaryIndexUpdates: [{ Create: indexOf(index) }],
      }),
    );
  } catch (err) {
    const { Table: table } = await dynamodb.send(new DescribeTableCommand({ TableName: tableName }));
    if (table?.GlobalSecondaryIndexes?.some((i) => i.IndexName === index.name)) return;
    throw new ProvisionError(`could not add index ${index.name} to table ${tableName}`, { cause: err });
  }
}

/** Waits for the table (and its indexes) to be ACTIVE; returns the index names it has. */
async function waitUntilActive(
  dynamodb: DynamoDBClient,
  tableName: string,
  timeoutMs: number,
): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { Table: table } = await dynamodb.send(new DescribeTableCommand({ TableName: tableName }));
    const indexes = table?.GlobalSecondaryIndexes ?? [];
    if (table?.TableStatus === "ACTIVE" && indexes.every((i) => i.IndexStatus === "ACTIVE")) {
      return indexes.flatMap((i) => (i.IndexName ? [i.IndexName] : []));
    }
    if (Date.now() > deadline) {
      const states = indexes.map((i) => `${i.IndexName} ${i.IndexStatus}`).join(", ");
      throw new ProvisionError(
        `table ${tableName} not ACTIVE after ${timeoutMs} ms (${table?.TableStatus}; indexes: ${states || "none"})`,
      );
    }
    await sleep(TABLE_POLL_MS);
  }
}

async function ensureTimeToLive(
  dynamodb: DynamoDBClient,
  tableName: string,
  attribute: string,
): Promise<void> {
  const { TimeToLiveDescription: ttl } = await dynamodb.send(
    new DescribeTimeToLiveCommand({ TableName: tableName }),
  );
  const on = ttl?.TimeToLiveStatus === "ENABLED" || ttl?.TimeToLiveStatus === "ENABLING";
  if (on && ttl?.AttributeName === attribute) return;
  if (on) {
    // Switching the attribute needs a disable first, which AWS rate-limits to once an hour.
    throw new ProvisionError(
      `table ${tableName} has TTL on "${ttl?.AttributeName}", the topology wants "${attribute}"`,
    );
  }
  try {
    await dynamodb.send(
      new UpdateTimeToLiveCommand({
        TableName: tableName,
        TimeToLiveSpecification: { AttributeName: attribute, Enabled: true },
      }),
    );
  } catch (err) {
    // A concurrent provision may have enabled it between our describe and update.
    if (!(err instanceof Error && /already enabled/i.test(err.message))) throw err;
  }
}

/** The dead-letter queue first: the main queue's redrive policy needs its ARN. */
async function ensureQueueWithDeadLetter(
  topology: Topology,
  spec: QueueSpec,
  sqs: SQSClient,
  options: ProvisionOptions,
  log: Log,
): Promise<[string, string][]> {
  const dlqUrl = await ensureQueue(
    sqs,
    physicalName(topology, spec.deadLetter.name),
    { MessageRetentionPeriod: String(DEAD_LETTER_RETENTION_SECONDS) },
    log,
  );
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ["QueueArn"] }),
  );
  const dlqArn = Attributes?.QueueArn;
  if (!dlqArn) throw new ProvisionError(`no ARN for dead-letter queue ${dlqUrl}`);
  const url = await ensureQueue(
    sqs,
    physicalName(topology, spec.name),
    {
      VisibilityTimeout: String(options.visibilityTimeoutSeconds ?? spec.visibilityTimeoutSeconds),
      RedrivePolicy: JSON.stringify({
        deadLetterTargetArn: dlqArn,
        maxReceiveCount: options.maxReceiveCount ?? spec.deadLetter.maxReceiveCount,
      }),
    },
    log,
  );
  return [
    [spec.name, url],
    [spec.deadLetter.name, dlqUrl],
  ];
}

/**
 * fauxqs reports this error with the query code "AWS.SimpleQueueService.QueueNameExists"
 * where AWS says "QueueAlreadyExists", so the SDK cannot map it to its class and throws a
 * generic exception named after the code.
 */
const isQueueNameExists = (err: unknown): boolean =>
  err instanceof QueueNameExists || (err instanceof Error && err.name.endsWith("QueueNameExists"));

/** CreateQueue is idempotent for equal attributes; for different ones, converge to ours. */
async function ensureQueue(
  sqs: SQSClient,
  queueName: string,
  attributes: Record<string, string>,
  log: Log,
): Promise<string> {
  try {
    const { QueueUrl } = await sqs.send(
      new CreateQueueCommand({ QueueName: queueName, Attributes: attributes }),
    );
    if (!QueueUrl) throw new ProvisionError(`CreateQueue returned no URL for ${queueName}`);
    return QueueUrl;
  } catch (err) {
    if (!isQueueNameExists(err)) throw err;
    const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: queueName }));
    if (!QueueUrl) throw new ProvisionError(`GetQueueUrl returned no URL for ${queueName}`, { cause: err });
    await sqs.send(new SetQueueAttributesCommand({ QueueUrl, Attributes: attributes }));
    log.info("queue attributes updated", { queue: queueName, attributes });
    return QueueUrl;
  }
}
