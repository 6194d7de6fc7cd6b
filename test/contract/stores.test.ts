/**
 * The store contracts, run against the DynamoDB adapters (on DynamoDB Local, each
 * with tables of its own) and against the in-memory stores.
 */
import { randomUUID } from "node:crypto";
import { DeleteCommand, type DynamoDBDocumentClient, ScanCommand } from "@aws-sdk/lib-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { physicalName } from "../../infra/topology.ts";
import { type AwsClients, createAwsClients, destroyAwsClients } from "../../src/adapters/aws-clients.ts";
import { createDynamoDbParticipantStore } from "../../src/adapters/dynamodb-participant-store.ts";
import { createDynamoDbTransactionStore } from "../../src/adapters/dynamodb-transaction-store.ts";
import { type Config, loadConfig } from "../../src/config.ts";
import { provision } from "../../src/local/provision.ts";
import type { ParticipantStore } from "../../src/participant-kit/participant-store.ts";
import { createMemoryParticipantStore } from "../../testkit/memory/memory-participant-store.ts";
import { createMemoryTransactionStore } from "../../testkit/memory/memory-transaction-store.ts";
import { testEnv } from "../helpers/stack.ts";
import { alongsideContract } from "./alongside.contract.ts";
import { type CounterState, counterModel, participantStoreContract } from "./participant-store.contract.ts";
import { sagaRecord, transactionStoreContract } from "./transaction-store.contract.ts";

const clients: AwsClients[] = [];
afterAll(() => {
  for (const c of clients) destroyAwsClients(c);
});

/** Tables (and queues) under a prefix of their own. */
async function provisioned(): Promise<{ config: Config; clients: AwsClients }> {
  const config = loadConfig(
    testEnv(`c${randomUUID().slice(0, 12)}`, {
      CONCORD_DUE_SHARDS: "2",
      CONCORD_COMMERCE_PARTICIPANTS: "none",
    }),
  );
  const c = createAwsClients(config);
  clients.push(c);
  await provision(config.topology, c);
  return { config, clients: c };
}

transactionStoreContract("DynamoDB", async () => {
  // A table per test: the due and waiting indexes span the whole table.
  const { config, clients: c } = await provisioned();
  return createDynamoDbTransactionStore({
    doc: c.doc,
    tableName: physicalName(config.topology, config.topology.tables.transactions.name),
    shards: config.topology.dueShards,
    retentionSeconds: 3_600,
  });
});

transactionStoreContract("in memory", async () => createMemoryTransactionStore({ shards: 2 }));

// One participant table for the file (the bank's): every test uses a participant name of its own.
const RETENTION_SECONDS = 3_600;
let dynamo: { store: ParticipantStore<CounterState>; doc: DynamoDBDocumentClient; table: string } | undefined;
beforeAll(async () => {
  const { config, clients: c } = await provisioned();
  const table = physicalName(config.topology, config.topology.tables.bank.name);
  const store = createDynamoDbParticipantStore({
    doc: c.doc,
    tableName: table,
    model: counterModel,
    retentionSeconds: RETENTION_SECONDS,
  });
  dynamo = { store, doc: c.doc, table };
});
participantStoreContract(
  "DynamoDB",
  () => {
    if (!dynamo) throw new Error("the participant table is not ready");
    return dynamo.store;
  },
  {
    retentionSeconds: RETENTION_SECONDS,
    // DynamoDB Local keeps expired items: delete what the real TTL may delete by then.
    async expire(participant, now) {
      if (!dynamo) throw new Error("the participant table is not ready");
      const { doc, table } = dynamo;
      const found = await doc.send(
        new ScanCommand({
          TableName: table,
          FilterExpression: "participant = :p AND expiresAt <= :t",
          ExpressionAttributeValues: { ":p": participant, ":t": Math.floor(now / 1000) },
        }),
      );
      for (const item of found.Items ?? []) {
        await doc.send(new DeleteCommand({ TableName: table, Key: { pk: item.pk } }));
      }
    },
  },
);
const memory = createMemoryParticipantStore(counterModel, { retentionSeconds: RETENTION_SECONDS });
participantStoreContract("in memory", () => memory, {
  retentionSeconds: RETENTION_SECONDS,
  async expire(_participant, now) {
    memory.expire(now);
  },
});

alongsideContract("DynamoDB", async () => {
  const { config, clients: c } = await provisioned();
  const { tables } = config.topology;
  return {
    transactions: createDynamoDbTransactionStore({
      doc: c.doc,
      tableName: physicalName(config.topology, tables.transactions.name),
      shards: config.topology.dueShards,
      retentionSeconds: RETENTION_SECONDS,
    }),
    participants: createDynamoDbParticipantStore({
      doc: c.doc,
      tableName: physicalName(config.topology, tables.bank.name),
      model: counterModel,
      retentionSeconds: RETENTION_SECONDS,
    }),
  };
});
alongsideContract("in memory", async () => ({
  transactions: createMemoryTransactionStore({ shards: 2 }),
  participants: createMemoryParticipantStore(counterModel, { retentionSeconds: RETENTION_SECONDS }),
}));

describe("DynamoDB create: the first messages do not wait for the listing's items", () => {
  it("runs `meanwhile` once the record is durable, though the items' write fails; the create then fails with it", async () => {
    const { config, clients: c } = await provisioned();
    const store = createDynamoDbTransactionStore({
      doc: c.doc,
      tableName: physicalName(config.topology, config.topology.tables.transactions.name),
      // No such table: the third participant's item cannot be written.
      participantsTableName: `missing-${randomUUID().slice(0, 8)}`,
      shards: config.topology.dueShards,
      retentionSeconds: RETENTION_SECONDS,
    });
    const tx = sagaRecord();
    let sent = false;
    const err = await store
      .create(tx, async () => {
        sent = true;
      })
      .catch((e: unknown) => e);
    expect(sent).toBe(true);
    expect((err as Error).name).toBe("ResourceNotFoundException");
    // The record stands: its messages went out, and a retry under the same id writes the items again.
    expect(await store.get(tx.id)).toEqual(tx);
  });
});
