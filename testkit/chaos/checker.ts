import type { AwsClients } from "../../src/adapters/aws-clients.ts";
import type { Config } from "../../src/config.ts";
import type { TxRecord } from "../../src/core/transaction.ts";
import { lookAtDeadLetters } from "../../src/local/dead-letters.ts";
import { checkInvariants as checkStoredInvariants } from "../invariants/check.ts";
import { participantItems } from "../invariants/snapshot.ts";
import { type Item, scanRecords, scanTable } from "../scan-table.ts";
import { type Account, accountKey, type ClientRecord, type TransferSpec } from "./workload.ts";

export type { Item };

export interface StoredState {
  readonly txs: TxRecord[];
  readonly accounts: Item[];
  readonly barriers: Item[];
  /** Saga step barriers, one per (server, transaction, branch). */
  readonly steps: Item[];
}

/**
 * The records first, then the participants' items: a snapshot that is not one
 * instant, so the order is what makes it agree. Once a record is final, what it
 * did at the participants is durable (a saga's steps, a 2PC's prepared barriers
 * and locks, which stay until settled), so a later read of the bank table sees
 * it or sees what is still unfinished. Read the other way round (or at once), a
 * saga step written between the two reads shows as a committed saga whose step
 * never ran, or a compensated one whose step is still `failed`.
 */
export async function readState(clients: AwsClients, config: Config): Promise<StoredState> {
  const txs = await scanRecords(clients.doc, config.topology);
  const bank = await scanTable(clients.doc, config.topology, "bank");
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
  const looks = await lookAtDeadLetters(clients.sqs, config.topology, 3);
  return looks.map(({ queue, count, messages }) => ({
    queue,
    count,
    sample: messages.map((m) => m.body.slice(0, 160)),
  }));
}

export interface CheckInput {
  readonly state: StoredState;
  readonly specs: readonly TransferSpec[];
  readonly records: ReadonlyMap<string, ClientRecord>;
  readonly accounts: readonly Account[];
  readonly initialBalance: number;
}

/**
 * Every violation of design §4 found (the one checker, testkit/invariants/),
 * then what the workload knows besides: every stored transaction is one it
 * started, what the client was told still holds, impossible transfers never
 * commit. Empty when all hold.
 */
export function checkInvariants(input: CheckInput): string[] {
  const { state, specs, records, accounts, initialBalance } = input;
  const txs = state.txs;
  const v = checkStoredInvariants({
    records: txs,
    ...participantItems([...state.accounts, ...state.barriers, ...state.steps]),
    initial: new Map(accounts.map((a) => [accountKey(a.server, a.account), initialBalance])),
  }).map((x) => `${x.invariant}: ${x.detail}`);
  const txById = new Map(txs.map((t) => [t.id, t]));
  const specById = new Map(specs.map((s) => [s.id, s]));
  for (const t of txs) if (!specById.has(t.id)) v.push(`unexpected transaction ${t.id} in the store`);
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
