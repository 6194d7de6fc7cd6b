/** A whole DynamoDB table, strongly consistent, page after page: what the invariant checks read. */
import { type DynamoDBDocumentClient, ScanCommand } from "@aws-sdk/lib-dynamodb";
import { physicalName, type Topology } from "../infra/topology.ts";

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
