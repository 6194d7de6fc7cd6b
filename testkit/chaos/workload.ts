/**
 * The chaos workload: seeded random transfers driven over HTTP at the API with
 * bounded concurrency, recording what the client was told about each one.
 */

import { backoffMs } from "../../src/core/backoff.ts";
import { sleep } from "../../src/timers.ts";
import { deriveSeed, seededRandom } from "../faults/fault-plan.ts";

export interface TransferOp {
  readonly server_id: string;
  readonly account_id: string;
  readonly operation: "withdraw" | "deposit";
  readonly amount: number;
}

export interface TransferSpec {
  readonly id: string;
  /**
   * `2pc` goes through /v1/transfers; `saga` through /v1/transactions as two
   * steps, the withdrawal (stage 0) then the deposit (stage 1), each with its
   * compensation.
   */
  readonly protocol: "2pc" | "saga";
  readonly ops: readonly TransferOp[];
  /** More than all the money there is: must abort for insufficient funds. */
  readonly mustAbort: boolean;
}

export interface Account {
  readonly server: string;
  readonly account: string;
}

export const accountKey = (server: string, account: string) => `${server}/${account}`;

export function accountsOf(servers: number, accounts: number): Account[] {
  return Array.from({ length: accounts }, (_, i) => ({
    server: `bank-${(i % servers) + 1}`,
    account: `a${i}`,
  }));
}

/** The transfers of a run, a pure function of the seed. */
export function transferSpecs(
  seed: number,
  count: number,
  accounts: readonly Account[],
  initialBalance: number,
  sagaShare = 0,
): TransferSpec[] {
  const random = seededRandom(deriveSeed(seed, "workload"));
  const pick = () => accounts[Math.floor(random() * accounts.length)] as Account;
  const total = initialBalance * accounts.length;
  return Array.from({ length: count }, (_, n) => {
    const from = pick();
    let to = pick();
    while (to === from && accounts.length > 1) to = pick();
    const mustAbort = random() < 0.05;
    // Up to 1.2x the starting balance: some fail for insufficient funds on their own.
    const amount = mustAbort ? total + 1 : 1 + Math.floor(random() * initialBalance * 1.2);
    // Drawn last, so a run without sagas has the same transfers as before.
    const protocol = sagaShare > 0 && random() < sagaShare ? "saga" : "2pc";
    return {
      id: `chaos-${seed}-${n}`,
      protocol,
      mustAbort,
      ops: [
        { server_id: from.server, account_id: from.account, operation: "withdraw", amount },
        { server_id: to.server, account_id: to.account, operation: "deposit", amount },
      ],
    };
  });
}

export type Told = "committed" | "aborted" | "pending" | "unknown" | "rejected";

export interface ClientRecord {
  readonly id: string;
  told: Told;
  /** HTTP attempts beyond the first (API down, 5xx, timeouts). */
  retries: number;
  /** For `rejected`: the status and body the API answered. */
  detail?: string;
}

export interface WorkloadOptions {
  readonly url: string;
  readonly specs: readonly TransferSpec[];
  readonly concurrency: number;
  /** Stop starting new transfers (and retrying) after this time (epoch ms). */
  readonly deadline: number;
  readonly waitMs: number;
  readonly maxAttempts: number;
}

/**
 * A saga's deadline. Past it, an action still in flight is compensated, and the
 * compensation of a deposit is a withdrawal that the recipient may no longer be
 * able to cover (a saga holds no locks): it would be retried until the money is
 * there. A deadline far beyond any re-send keeps the workload to failures a saga
 * can always undo: a refused withdrawal.
 */
export const SAGA_TIMEOUT_MS = 300_000;

/** The saga form of a transfer: each operation a stage, undone by its opposite. */
export function sagaBody(spec: TransferSpec) {
  return {
    id: spec.id,
    protocol: "saga",
    timeoutMs: SAGA_TIMEOUT_MS,
    branches: spec.ops.map((op, stage) => {
      const input = { account: op.account_id, amount: op.amount };
      return {
        participant: op.server_id,
        action: op.operation,
        input,
        compensation: { action: op.operation === "withdraw" ? "deposit" : "withdraw", input },
        stage,
      };
    }),
  };
}

async function post(url: string, spec: TransferSpec, waitMs: number): Promise<Response> {
  const saga = spec.protocol === "saga";
  return fetch(`${url}/v1/${saga ? "transactions" : "transfers"}?wait=${waitMs}`, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...(saga ? {} : { "Idempotency-Key": spec.id }) },
    body: JSON.stringify(saga ? sagaBody(spec) : spec.ops),
    signal: AbortSignal.timeout(waitMs + 10_000),
  });
}

/** One transfer, retried with the same id (Idempotency-Key, or the saga body's id) until the API answers (or attempts run out). */
async function drive(options: WorkloadOptions, spec: TransferSpec, record: ClientRecord): Promise<void> {
  for (let attempt = 1; attempt <= options.maxAttempts; attempt++) {
    if (attempt > 1) {
      if (Date.now() > options.deadline) return;
      record.retries++;
      await sleep(backoffMs(100, attempt - 2, 2_000));
    }
    try {
      const res = await post(options.url, spec, options.waitMs);
      const text = await res.text();
      if (res.status === 201 || res.status === 202) {
        const status = (JSON.parse(text) as { status?: string }).status;
        if (status === "committed" || status === "aborted" || status === "pending") {
          record.told = status;
          return;
        }
      }
      if (res.status >= 500) continue;
      // 4xx: the workload asked for something the API refuses. Never expected.
      record.told = "rejected";
      record.detail = `${res.status} ${text.slice(0, 200)}`;
      return;
    } catch {
      // Connection refused (the API is down), reset or timed out: try again with the same key.
    }
  }
}

export interface WorkloadProgress {
  readonly started: number;
  readonly done: number;
}

export async function runWorkload(
  options: WorkloadOptions,
  records: Map<string, ClientRecord>,
  progress: (p: WorkloadProgress) => void = () => {},
): Promise<void> {
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < options.specs.length && Date.now() < options.deadline) {
      const spec = options.specs[next++] as TransferSpec;
      const record: ClientRecord = { id: spec.id, told: "unknown", retries: 0 };
      records.set(spec.id, record);
      await drive(options, spec, record);
      done++;
      progress({ started: next, done });
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
}
