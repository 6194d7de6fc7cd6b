import { DescribeTableCommand, DescribeTimeToLiveCommand } from "@aws-sdk/client-dynamodb";
import { GetQueueAttributesCommand } from "@aws-sdk/client-sqs";
import { afterAll, describe, expect, it } from "vitest";
import { buildTopology, physicalName } from "../../infra/topology.ts";
import { provision } from "../../src/local/provision.ts";
import { localClients, uniquePrefix } from "./fixtures.ts";

const clients = localClients();
afterAll(() => {
  clients.dynamodb.destroy();
  clients.sqs.destroy();
});

const topologyFor = (prefix: string) =>
  buildTopology({ prefix, bankServers: ["alpha"], dueShards: 2, sweepIntervalSeconds: 60 });

async function queueAttributes(url: string): Promise<Record<string, string>> {
  const { Attributes } = await clients.sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["All"] }),
  );
  return Attributes ?? {};
}

describe("provision", () => {
  it("creates tables with their index and TTL, and queues behind dead-letter queues", async () => {
    const topology = topologyFor(uniquePrefix("prov"));
    const urls = await provision(topology, clients);

    expect([...urls.keys()].sort()).toEqual([
      "coordinator",
      "coordinator-dlq",
      "dispatcher",
      "dispatcher-dlq",
      "participant-alpha",
      "participant-alpha-dlq",
    ]);
    for (const url of urls.values()) expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\//);

    const transactions = physicalName(topology, "transactions");
    const { Table } = await clients.dynamodb.send(new DescribeTableCommand({ TableName: transactions }));
    expect(Table?.TableStatus).toBe("ACTIVE");
    expect(Table?.BillingModeSummary?.BillingMode).toBe("PAY_PER_REQUEST");
    expect(Table?.KeySchema).toEqual([{ AttributeName: "id", KeyType: "HASH" }]);
    expect(
      Table?.GlobalSecondaryIndexes?.map((i) => [i.IndexName, i.Projection?.ProjectionType]).sort(),
    ).toEqual(topology.tables.transactions.indexes.map((i) => [i.name, i.projection ?? "ALL"]).sort());
    expect(Table?.GlobalSecondaryIndexes?.map((i) => i.IndexName)).toContain("due-keys");
    for (const table of [transactions, physicalName(topology, "bank")]) {
      const ttl = await clients.dynamodb.send(new DescribeTimeToLiveCommand({ TableName: table }));
      expect(ttl.TimeToLiveDescription).toMatchObject({
        TimeToLiveStatus: "ENABLED",
        AttributeName: "expiresAt",
      });
    }

    // The registry's records never expire: no TTL on it.
    const registry = await clients.dynamodb.send(
      new DescribeTimeToLiveCommand({ TableName: physicalName(topology, "participants") }),
    );
    expect(registry.TimeToLiveDescription?.TimeToLiveStatus).toBe("DISABLED");

    const coordinator = await queueAttributes(urls.get("coordinator") ?? "");
    const dlq = await queueAttributes(urls.get("coordinator-dlq") ?? "");
    expect(coordinator.VisibilityTimeout).toBe("60");
    expect(JSON.parse(coordinator.RedrivePolicy ?? "{}")).toEqual({
      deadLetterTargetArn: dlq.QueueArn,
      maxReceiveCount: 5,
    });
  });

  it("is idempotent: a second run succeeds and returns the same URLs", async () => {
    const topology = topologyFor(uniquePrefix("idem"));
    const first = await provision(topology, clients);
    const second = await provision(topology, clients);
    expect(second).toEqual(first);
  });

  it("applies per-run overrides, also to queues that already exist", async () => {
    const topology = topologyFor(uniquePrefix("over"));
    await provision(topology, clients);
    const urls = await provision(topology, clients, { visibilityTimeoutSeconds: 2, maxReceiveCount: 3 });
    const attributes = await queueAttributes(urls.get("participant-alpha") ?? "");
    expect(attributes.VisibilityTimeout).toBe("2");
    expect(JSON.parse(attributes.RedrivePolicy ?? "{}")).toMatchObject({ maxReceiveCount: 3 });
  });
});
