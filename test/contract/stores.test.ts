/**
 * The store contracts, run against the DynamoDB adapters (on DynamoDB Local, each
 * with tables of its own) and against the in-memory stores.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll } from "vitest";
import { physicalName } from "../../infra/topology.ts";
import { type AwsClients, createAwsClients, destroyAwsClients } from "../../src/adapters/aws-clients.ts";
import { createDynamoDbParticipantStore } from "../../src/adapters/dynamodb-participant-store.ts";
import { createDynamoDbTransactionStore } from "../../src/adapters/dynamodb-transaction-store.ts";
import { type Config, loadConfig } from "../../src/config.ts";
import { provision } from "../../src/local/provision.ts";
import { createMemoryParticipantStore } from "../../src/participant-kit/memory-participant-store.ts";
import type { ParticipantStore } from "../../src/participant-kit/participant-store.ts";
import { createMemoryTransactionStore } from "../../src/sim/memory-transaction-store.ts";
import { testEnv } from "../helpers/stack.ts";
import { type CounterState, counterModel, participantStoreContract } from "./participant-store.contract.ts";
import { transactionStoreContract } from "./transaction-store.contract.ts";

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
let dynamo: ParticipantStore<CounterState> | undefined;
beforeAll(async () => {
  const { config, clients: c } = await provisioned();
  dynamo = createDynamoDbParticipantStore({
    doc: c.doc,
    tableName: physicalName(config.topology, config.topology.tables.bank.name),
    model: counterModel,
    retentionSeconds: 3_600,
  });
});
participantStoreContract("DynamoDB", () => {
  if (!dynamo) throw new Error("the participant table is not ready");
  return dynamo;
});
participantStoreContract("in memory", () => createMemoryParticipantStore(counterModel));
