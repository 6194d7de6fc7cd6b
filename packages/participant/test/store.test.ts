/** The store contract against DynamoDB Local (a table of its own) and in memory. */
import { randomUUID } from "node:crypto";
import { CreateTableCommand, DeleteTableCommand, DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { afterAll, beforeAll, inject } from "vitest";
import { barrierTableDefinition, createDynamoDbBarrierStore } from "../src/dynamodb-store.ts";
import { createMemoryBarrierStore } from "../src/memory-store.ts";
import type { BarrierStore } from "../src/store.ts";
import { barrierStoreContract } from "./store.contract.ts";

const tableName = `participant-kit-${randomUUID().slice(0, 8)}`;
const client = new DynamoDBClient({ endpoint: inject("dynamodbEndpoint") });
let dynamo: BarrierStore | undefined;

beforeAll(async () => {
  await client.send(new CreateTableCommand(barrierTableDefinition(tableName)));
  dynamo = createDynamoDbBarrierStore({ client: DynamoDBDocumentClient.from(client), tableName });
});
afterAll(async () => {
  await client.send(new DeleteTableCommand({ TableName: tableName }));
  client.destroy();
});

barrierStoreContract("DynamoDB", () => {
  if (!dynamo) throw new Error("the table is not ready");
  return dynamo;
});
barrierStoreContract("in memory", () => createMemoryBarrierStore());
