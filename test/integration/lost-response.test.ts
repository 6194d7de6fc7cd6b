/**
 * A write that succeeded but whose response was lost is retried by the SDK with
 * the same request; the retry then fails its own condition. The store must see
 * its own write there, not a competing one.
 */
import { PutCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { physicalName } from "../../infra/topology.ts";
import { createDynamoDbTransactionStore } from "../../src/adapters/dynamodb-transaction-store.ts";
import { begin } from "../../src/core/two-phase-commit.ts";
import { DuplicateTransactionError } from "../../src/ports/errors.ts";
import { policyOf } from "../../src/wiring.ts";
import { type Stack, startStack } from "../helpers/stack.ts";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ roles: [] });
});
afterAll(() => stack?.stop());

/** A document client that sends every PutItem and UpdateItem twice, as an SDK retry after a lost response would. */
function storeWithRetriedPuts() {
  const { doc } = stack.runtime.clients;
  const twice = {
    send: async (command: unknown) => {
      if (command instanceof PutCommand || command instanceof UpdateCommand) {
        await doc.send(command as never);
      }
      return doc.send(command as never);
    },
  } as unknown as typeof doc;
  const { topology } = stack.config;
  return createDynamoDbTransactionStore({
    doc: twice,
    tableName: physicalName(topology, topology.tables.transactions.name),
    shards: topology.dueShards,
    retentionSeconds: 3600,
  });
}

const record = (id: string) =>
  begin(
    {
      id,
      requestHash: "h",
      timeoutMs: 60_000,
      branches: [{ participant: "bank-1", action: "deposit", input: {} }],
    },
    Date.now(),
    policyOf(stack.config),
  ).next;

describe("a lost response, retried", () => {
  it("create and update recognise their own write and succeed", async () => {
    const store = storeWithRetriedPuts();
    const tx = record("lost-1");
    await expect(store.create(tx)).resolves.toBeUndefined();
    await expect(store.update(tx, { ...tx, attempts: 1, version: 2 })).resolves.toEqual({ saved: true });
    expect(await store.get("lost-1")).toMatchObject({ version: 2, attempts: 1 });
  });

  it("a competing writer is still told apart", async () => {
    const store = storeWithRetriedPuts();
    const tx = record("lost-2");
    await store.create(tx);
    await expect(store.create(tx)).rejects.toBeInstanceOf(DuplicateTransactionError);
    await expect(store.update({ ...tx, version: 7 }, { ...tx, version: 8 })).resolves.toMatchObject({
      saved: false,
      current: { version: 1 },
    });
  });
});
