/**
 * What a 2-party transfer's record costs to write, by DynamoDB Local's own
 * accounting: every write of it is billed per started KB, so the record must
 * stay under 1 KB from its create to its completion.
 */
import { randomUUID } from "node:crypto";
import { GetCommand, PutCommand } from "@aws-sdk/lib-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { physicalName } from "../../infra/topology.ts";
import { type AwsClients, createAwsClients, destroyAwsClients } from "../../src/adapters/aws-clients.ts";
import { fromItem } from "../../src/adapters/dynamodb-transaction-item.ts";
import { createDynamoDbTransactionStore } from "../../src/adapters/dynamodb-transaction-store.ts";
import { loadConfig } from "../../src/config.ts";
import { foldMessages } from "../../src/coordinator/coordinator.ts";
import type { CoordinatorMessage } from "../../src/core/messages.ts";
import type { TxRecord } from "../../src/core/transaction.ts";
import { begin } from "../../src/core/two-phase-commit.ts";
import { provision } from "../../src/local/provision.ts";
import type { TransactionStore } from "../../src/ports/transaction-store.ts";
import { TEST_POLICY } from "../helpers/policy.ts";
import { testEnv } from "../helpers/stack.ts";

let clients: AwsClients;
let table: string;
let store: TransactionStore;

beforeAll(async () => {
  const config = loadConfig(
    testEnv(`rs${randomUUID().slice(0, 8)}`, { CONCORD_COMMERCE_PARTICIPANTS: "none" }),
  );
  clients = createAwsClients(config);
  await provision(config.topology, clients);
  table = physicalName(config.topology, config.topology.tables.transactions.name);
  store = createDynamoDbTransactionStore({
    doc: clients.doc,
    tableName: table,
    shards: 4,
    retentionSeconds: 3_600,
  });
});
afterAll(() => destroyAwsClients(clients));

/** The write units DynamoDB Local bills for putting `item` (an item as stored) anew. */
async function unitsToPut(item: Record<string, unknown>): Promise<number> {
  const out = await clients.doc.send(
    new PutCommand({
      TableName: table,
      Item: { ...item, id: randomUUID() },
      ReturnConsumedCapacity: "INDEXES",
    }),
  );
  return out.ConsumedCapacity?.Table?.CapacityUnits ?? Number.NaN;
}

const stored = async (id: string) =>
  (await clients.doc.send(new GetCommand({ TableName: table, Key: { id }, ConsistentRead: true }))).Item ??
  {};

/**
 * A transfer as the bench and the README send it, every step of its record:
 * created, the first vote, the decision with the last voter's ack, the last ack.
 */
function transferSteps(id: string): TxRecord[] {
  const now = Date.now();
  const created = begin(
    {
      id,
      // As the API stores them: a SHA-256 in base64url, the request's branches.
      requestHash: "n4bQgYhMfWWaL-qgxVrQFaO_TxsfRZ3-1jx0XGHi_n0",
      timeoutMs: 60_000,
      branches: [
        { participant: "bank-1", action: "withdraw", input: { account: "account-00017", amount: 250 } },
        { participant: "bank-2", action: "deposit", input: { account: "account-00342", amount: 250 } },
      ],
    },
    now,
    TEST_POLICY,
  ).next;
  const first: TxRecord = {
    ...created,
    traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
  };
  const apply = (tx: TxRecord, message: CoordinatorMessage, at: number) =>
    foldMessages(tx, [message], at, TEST_POLICY).next;
  const vote = (participant: string): CoordinatorMessage => ({
    type: "vote",
    txId: id,
    participant,
    vote: "yes",
  });
  const ack = (participant: string): CoordinatorMessage => ({
    type: "ack",
    txId: id,
    participant,
    decision: "commit",
  });
  const voted = apply(first, vote("bank-2"), now + 41);
  const decided = apply(voted, vote("bank-1"), now + 57);
  const ownAck = apply(decided, ack("bank-1"), now + 57);
  const done = apply(ownAck, ack("bank-2"), now + 83);
  expect(done.state).toBe("committed");
  return [first, voted, ownAck, done];
}

describe("a 2-party transfer's record, as the transactions table stores it", () => {
  it("is billed one write unit at every step, its completion included", async () => {
    const id = randomUUID();
    const [first, ...rest] = transferSteps(id);
    if (!first) throw new Error("no steps");
    await store.create(first);
    expect(await unitsToPut(await stored(id))).toBe(1);
    let before = first;
    for (const next of rest) {
      expect(await store.update(before, next)).toEqual({ saved: true });
      const item = await stored(id);
      expect({ state: item.state, units: await unitsToPut(item) }).toEqual({ state: next.state, units: 1 });
      before = next;
    }
    expect(await store.get(id)).toEqual(before);

    // The measure can fail: the same item with its timeline as DynamoDB's own list of maps passes 1 KB.
    const item = await stored(id);
    expect(await unitsToPut({ ...item, events: fromItem(item).events })).toBe(2);
  });
});
