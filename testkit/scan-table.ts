/** A whole DynamoDB table, strongly consistent, page after page: what the invariant checks read. */
import { type DynamoDBDocumentClient, ScanCommand } from "@aws-sdk/lib-dynamodb";
import { physicalName, type Topology } from "../infra/topology.ts";
import { fromItem } from "../src/adapters/dynamodb-transaction-item.ts";
import type { TxRecord } from "../src/core/transaction.ts";

export type Item = Record<string, unknown>;

export async function scanTable(
  doc: DynamoDBDocumentClient,
  topology: Topology,
  /** A logical table name: `transactions`, `bank`, an e-commerce participant's. */
  table: string,
): Promise<Item[]> {
  const spec = topology.tables[table];
  if (!spec) throw new Error(`no table ${table} in the topology`);
  const name = physicalName(topology, spec.name);
  const items: Item[] = [];
  let startKey: Item | undefined;
  do {
    const out = await doc.send(
      new ScanCommand({ TableName: name, ConsistentRead: true, ExclusiveStartKey: startKey }),
    );
    items.push(...(out.Items ?? []));
    startKey = out.LastEvaluatedKey;
  } while (startKey);
  return items;
}

/** Every transaction record, read back from its stored form as the store reads it. */
export async function scanRecords(doc: DynamoDBDocumentClient, topology: Topology): Promise<TxRecord[]> {
  return (await scanTable(doc, topology, "transactions")).map(fromItem);
}
