/**
 * A table kept from an older version (`npm start` keeps DynamoDB's data on disk
 * in .concord/data) lacks the indexes added since: provisioning adds them, and
 * DynamoDB fills them from the items already there.
 *
 * Runs its own DynamoDB Local on a data folder, restarted in between, as
 * `npm start` would be. It also keeps the test off the shared emulator: DynamoDB
 * Local builds an added index in the background, and under the whole suite's
 * load that took longer than the test's timeout.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DescribeTableCommand, PutItemCommand, QueryCommand } from "@aws-sdk/client-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTopology, physicalName, STATUS_INDEX, type Topology } from "../../infra/topology.ts";
import { type EmulatorProcess, startDynamoDbLocal } from "../../src/local/emulators/index.ts";
import { provision } from "../../src/local/provision.ts";
import { localClients, uniquePrefix } from "./fixtures.ts";

let dataDir: string;
let dynamodb: EmulatorProcess | undefined;
beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "concord-gsi-"));
});
afterAll(async () => {
  await dynamodb?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

/** Clients for a fresh DynamoDB Local on the data folder (the shared SQS emulator for queues). */
async function restart() {
  await dynamodb?.stop();
  dynamodb = await startDynamoDbLocal({ dataDir });
  return localClients({ dynamodb: dynamodb.endpoint });
}

const topologyFor = (label: string) =>
  buildTopology({
    prefix: uniquePrefix(label),
    bankServers: ["alpha"],
    dueShards: 2,
    sweepIntervalSeconds: 60,
  });

/** The same topology as it was before the status index existed. */
function withoutStatusIndex(topology: Topology): Topology {
  const { transactions } = topology.tables;
  return {
    ...topology,
    tables: {
      ...topology.tables,
      transactions: { ...transactions, indexes: transactions.indexes.filter((i) => i.name !== STATUS_INDEX) },
    },
  };
}

describe("provision on a table kept from an older version", () => {
  it("adds the missing index (with its projection) and DynamoDB backfills it", async () => {
    const topology = topologyFor("gsi");
    const table = physicalName(topology, "transactions");
    const before = await restart();
    await provision(withoutStatusIndex(topology), before);
    await before.dynamodb.send(
      new PutItemCommand({
        TableName: table,
        Item: { id: { S: "old-1" }, statusShard: { S: "committed#0" }, createdAt: { N: "5" } },
      }),
    );
    before.dynamodb.destroy();
    before.sqs.destroy();

    const clients = await restart();
    const warnings: unknown[] = [];
    await provision(topology, clients, { log: { info: () => {}, warn: (...a) => warnings.push(a) } });

    const { Table } = await clients.dynamodb.send(new DescribeTableCommand({ TableName: table }));
    expect(Table?.GlobalSecondaryIndexes?.find((i) => i.IndexName === STATUS_INDEX)).toMatchObject({
      IndexStatus: "ACTIVE",
      Projection: { ProjectionType: "KEYS_ONLY" },
    });
    expect(warnings).toEqual([]);
    const out = await clients.dynamodb.send(
      new QueryCommand({
        TableName: table,
        IndexName: STATUS_INDEX,
        KeyConditionExpression: "statusShard = :p",
        ExpressionAttributeValues: { ":p": { S: "committed#0" } },
      }),
    );
    expect(out.Items?.map((i) => i.id?.S)).toEqual(["old-1"]);

    // Idempotent: the next start finds everything in place.
    await provision(topology, clients);
    clients.dynamodb.destroy();
    clients.sqs.destroy();
  });

  it("two provisions adding the same index at once both succeed", async () => {
    const topology = topologyFor("gsi2");
    const clients = dynamodb ? localClients({ dynamodb: dynamodb.endpoint }) : await restart();
    await provision(withoutStatusIndex(topology), clients);
    await Promise.all([provision(topology, clients), provision(topology, clients)]);
    const { Table } = await clients.dynamodb.send(
      new DescribeTableCommand({ TableName: physicalName(topology, "transactions") }),
    );
    expect(Table?.GlobalSecondaryIndexes?.filter((i) => i.IndexName === STATUS_INDEX)).toHaveLength(1);
    clients.dynamodb.destroy();
    clients.sqs.destroy();
  });
});
