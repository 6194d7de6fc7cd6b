/**
 * The invariants of design §4, checked from the stored state (DynamoDB scans)
 * and what the client was told. Pure apart from `readState`/`readDeadLetters`.
 */
import { GetQueueAttributesCommand, GetQueueUrlCommand, ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import { ScanCommand } from "@aws-sdk/lib-dynamodb";
import { physicalName } from "../../infra/topology.ts";
import type { AwsClients } from "../../src/adapters/aws-clients.ts";
import type { Config } from "../../src/config.ts";
import { type Account, accountKey, type ClientRecord, type TransferSpec } from "./workload.ts";

export type Item = Record<string, unknown>;

export interface StoredState {
  readonly txs: Item[];
  readonly accounts: Item[];
  readonly barriers: Item[];
  /** Saga step barriers, one per (server, transaction, branch). */
  readonly steps: Item[];
}

async function scan(clients: AwsClients, config: Config, table: "transactions" | "bank"): Promise<Item[]> {
  const name = physicalName(config.topology, config.topology.tables[table].name);
  const items: Item[] = [];
  let startKey: Item | undefined;
  do {
    const out = await clients.doc.send(
      new ScanCommand({ TableName: name, ConsistentRead: true, ExclusiveStartKey: startKey }),
    );
    items.push(...(out.Items ?? []));
    startKey = out.LastEvaluatedKey;
  } while (startKey);
  return items;
}

export async function readState(clients: AwsClients, config: Config): Promise<StoredState> {
  const [txs, bank] = await Promise.all([
    scan(clients, config, "transactions"),
    scan(clients, config, "bank"),
  ]);
  return {
    txs,
    accounts: bank.filter((i) => i.kind === "account"),
    barriers: bank.filter((i) => i.kind === "barrier"),
    steps: bank.filter((i) => i.kind === "step"),
  };
}

const FINAL = new Set(["committed", "aborted", "compensated"]);
/** What the client is told for a stored final state: a compensated saga is `aborted`. */
const toldFor = (state: unknown) => (state === "compensated" ? "aborted" : state);

/** Liveness only: is there anything left to finish? */
export function unfinished(state: StoredState): number {
  return (
    state.txs.filter((t) => !FINAL.has(String(t.state))).length +
    state.accounts.filter((a) => a.lockedBy !== undefined).length +
    state.barriers.filter((b) => b.state === "prepared").length
  );
}

export interface DeadLetters {
  readonly queue: string;
  readonly count: number;
  readonly sample: readonly string[];
}

export async function readDeadLetters(clients: AwsClients, config: Config): Promise<DeadLetters[]> {
  const out: DeadLetters[] = [];
  for (const queue of config.topology.queues) {
    const name = physicalName(config.topology, queue.deadLetter.name);
    const { QueueUrl } = await clients.sqs.send(new GetQueueUrlCommand({ QueueName: name }));
    const { Attributes = {} } = await clients.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl,
        AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
      }),
    );
    const count =
      Number(Attributes.ApproximateNumberOfMessages ?? 0) +
      Number(Attributes.ApproximateNumberOfMessagesNotVisible ?? 0);
    let sample: string[] = [];
    if (count > 0) {
      const peek = await clients.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl,
          MaxNumberOfMessages: 3,
          VisibilityTimeout: 0,
          WaitTimeSeconds: 0,
        }),
      );
      sample = (peek.Messages ?? []).map((m) => (m.Body ?? "").slice(0, 160));
    }
    out.push({ queue: name, count, sample });
  }
  return out;
}

export interface CheckInput {
  readonly state: StoredState;
  readonly specs: readonly TransferSpec[];
  readonly records: ReadonlyMap<string, ClientRecord>;
  readonly accounts: readonly Account[];
  readonly initialBalance: number;
}

/** Every violation of design §4 found; empty when all hold. */
export function checkInvariants(input: CheckInput): string[] {
  const { state, specs, records, accounts, initialBalance } = input;
  const v: string[] = [];
  const txById = new Map(state.txs.map((t) => [String(t.id), t]));
  const specById = new Map(specs.map((s) => [s.id, s]));

  // 4. Liveness: every transaction final, no lock held, no barrier left prepared.
  for (const t of state.txs) if (!FINAL.has(String(t.state))) v.push(`liveness: ${t.id} still ${t.state}`);
  for (const a of state.accounts)
    if (a.lockedBy !== undefined) v.push(`liveness: ${a.participant}/${a.id} locked by ${a.lockedBy}`);
  for (const b of state.barriers)
    if (b.state === "prepared") v.push(`liveness: barrier ${b.participant}/${b.txId} still prepared`);

  // 1+2. Atomicity and agreement: barriers agree with the decision.
  const barriersOf = new Map<string, Item[]>();
  for (const b of state.barriers)
    barriersOf.set(String(b.txId), [...(barriersOf.get(String(b.txId)) ?? []), b]);
  for (const t of state.txs) {
    const bs = barriersOf.get(String(t.id)) ?? [];
    if (t.state === "committed" && bs.some((b) => b.state !== "committed"))
      v.push(
        `agreement: ${t.id} committed, barriers ${bs.map((b) => `${b.participant}:${b.state}`).join(",")}`,
      );
    if (t.state === "aborted" && bs.some((b) => b.state === "committed"))
      v.push(
        `agreement: ${t.id} aborted, barriers ${bs.map((b) => `${b.participant}:${b.state}`).join(",")}`,
      );
    if (!specById.has(String(t.id))) v.push(`unexpected transaction ${t.id} in the store`);
  }
  // Sagas: committed → every step applied and standing; compensated → none left applied.
  for (const s of state.steps) {
    const t = txById.get(String(s.txId));
    const where = `${s.participant}/${s.txId}#${s.branch}`;
    if (t?.state === "committed" && s.state !== "done")
      v.push(`agreement: saga ${t.id} committed, step ${where} ${s.state}`);
    if (t?.state === "compensated" && s.state === "done")
      v.push(`agreement: saga ${t.id} compensated, step ${where} still done`);
  }

  // 3. Conservation, no negative balance.
  const expectedTotal = initialBalance * accounts.length;
  const total = state.accounts.reduce((s, a) => s + Number(a.balance), 0);
  if (total !== expectedTotal) v.push(`conservation: total ${total} != ${expectedTotal}`);
  if (state.accounts.length !== accounts.length)
    v.push(`conservation: ${state.accounts.length} accounts stored, ${accounts.length} seeded`);
  for (const a of state.accounts)
    if (Number(a.balance) < 0) v.push(`negative: ${a.participant}/${a.id} = ${a.balance}`);

  // 1+5. Atomicity, exactly once: each balance is the start plus every committed transfer, applied once.
  const expected = new Map(accounts.map((a) => [accountKey(a.server, a.account), initialBalance]));
  for (const spec of specs) {
    if (txById.get(spec.id)?.state !== "committed") continue;
    for (const op of spec.ops) {
      const key = accountKey(op.server_id, op.account_id);
      expected.set(key, (expected.get(key) ?? 0) + (op.operation === "deposit" ? op.amount : -op.amount));
    }
  }
  for (const a of state.accounts) {
    const key = accountKey(String(a.participant), String(a.id));
    if (expected.get(key) !== Number(a.balance))
      v.push(`atomicity: ${key} = ${a.balance}, committed transfers give ${expected.get(key)}`);
  }

  // What the client was told still holds; impossible transfers never commit.
  for (const r of records.values()) {
    const tx = txById.get(r.id);
    if (r.told === "rejected") v.push(`client: ${r.id} refused by the API: ${r.detail}`);
    if ((r.told === "committed" || r.told === "aborted" || r.told === "pending") && !tx)
      v.push(`client: ${r.id} told ${r.told}, no such transaction stored`);
    if ((r.told === "committed" || r.told === "aborted") && tx && toldFor(tx.state) !== r.told)
      v.push(`client: ${r.id} told ${r.told}, stored ${tx.state}`);
  }
  for (const spec of specs)
    if (spec.mustAbort && txById.get(spec.id)?.state === "committed")
      v.push(`insufficient funds: ${spec.id} committed`);
  return v;
}
