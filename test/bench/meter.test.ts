/**
 * The bench's capacity accounting against DynamoDB Local itself: what it
 * reports for a TransactWriteItems is read as AWS bills it (2 units per KB of
 * each item written, rounded up item by item), not doubled a second time.
 */
import { randomUUID } from "node:crypto";
import {
  CreateTableCommand,
  DynamoDBClient,
  PutItemCommand,
  TransactWriteItemsCommand,
} from "@aws-sdk/client-dynamodb";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { itemBytes, Meter, transactWriteFloor } from "../../bench/meter.ts";

const table = `meter-${randomUUID()}`;
const client = () =>
  new DynamoDBClient({
    endpoint: inject("dynamodbEndpoint"),
    region: "us-east-1",
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
  });
const ddb = client();
const meter = new Meter();
meter.meterCapacity(ddb);

beforeAll(async () => {
  await ddb.send(
    new CreateTableCommand({
      TableName: table,
      BillingMode: "PAY_PER_REQUEST",
      AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }],
      KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }],
    }),
  );
});

const small = (pk: string) => ({ Put: { TableName: table, Item: { pk: { S: pk } } } });

async function writeUnitsOf(send: () => Promise<unknown>): Promise<number> {
  meter.reset();
  await send();
  return meter.snapshot().writeUnits;
}

describe("the bench's write units", () => {
  it("off while the bench times: the request goes out as sent, nothing is counted", async () => {
    const sent: unknown[] = [];
    const probe = client();
    const quiet = new Meter();
    quiet.meterCapacity(probe);
    // After the meter's middleware (initialize), before the request is built: what it passed on.
    probe.middlewareStack.add(
      (next) => async (args) => {
        sent.push((args.input as { ReturnConsumedCapacity?: string }).ReturnConsumedCapacity);
        return next(args);
      },
      { step: "serialize", name: "probe" },
    );
    try {
      quiet.capacityOn = false;
      await probe.send(new PutItemCommand(small(randomUUID()).Put));
      expect(quiet.snapshot().writeUnits).toBe(0);
      quiet.capacityOn = true;
      await probe.send(new PutItemCommand(small(randomUUID()).Put));
      expect(quiet.snapshot().writeUnits).toBe(1);
      expect(sent).toEqual([undefined, "TOTAL"]);
    } finally {
      probe.destroy();
    }
  });

  it("a standard write of a small item: 1", async () => {
    expect(await writeUnitsOf(() => ddb.send(new PutItemCommand(small(randomUUID()).Put)))).toBe(1);
  });

  it("a transactional write of one small item: 2, as AWS bills it (not 4)", async () => {
    const send = () => ddb.send(new TransactWriteItemsCommand({ TransactItems: [small(randomUUID())] }));
    expect(await writeUnitsOf(send)).toBe(2);
  });

  it("a transactional write of two small items: 2 each (DynamoDB Local reports 2 for both)", async () => {
    const items = [small(randomUUID()), small(randomUUID())];
    const send = () => ddb.send(new TransactWriteItemsCommand({ TransactItems: items }));
    expect(await writeUnitsOf(send)).toBe(4);
  });

  it("a transactional write of a 1.5 KB item: 2 per KB, rounded up", async () => {
    const item = { pk: { S: randomUUID() }, body: { S: "x".repeat(1500) } };
    const send = () =>
      ddb.send(new TransactWriteItemsCommand({ TransactItems: [{ Put: { TableName: table, Item: item } }] }));
    expect(await writeUnitsOf(send)).toBe(4);
  });
});

describe("item sizes", () => {
  it("counts names and values, marshalled or plain", () => {
    expect(itemBytes({ pk: { S: "abc" } })).toBe(5);
    expect(itemBytes({ pk: "abc" })).toBe(5);
    expect(itemBytes({ n: { N: "1234" } })).toBe(1 + 3);
    expect(itemBytes({ m: { M: { a: { S: "xy" } } } })).toBe(1 + 3 + 3 + 1);
  });

  it("floors a transaction per table, an Update at 2", () => {
    const floors = transactWriteFloor({
      TransactItems: [
        { Put: { TableName: "a", Item: { pk: { S: "x".repeat(2000) } } } },
        { Update: { TableName: "a" } },
        { ConditionCheck: { TableName: "b" } },
      ],
    });
    expect(Object.fromEntries(floors)).toEqual({ a: 6 });
  });
});
