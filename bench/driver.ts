/**
 * Driving transactions at the API and measuring them: seeding accounts, the
 * transaction bodies, concurrent clients with their latencies and outcomes,
 * and waiting for the stack to fall quiet between measurements.
 */
import type { Config } from "../src/config.ts";
import { sleep } from "../src/timers.ts";
import type { Meter } from "./meter.ts";
import type { BenchOptions } from "./options.ts";

/** What every workload needs of the running bench. */
export interface Bench {
  readonly opts: BenchOptions;
  readonly config: Config;
  readonly meter: Meter;
  /** The API's base URL. */
  readonly url: string;
  /** Exits with the usage and `message`. */
  fail(message: string): never;
}

/** Progress for a person watching: on stderr, and only on a terminal. */
export const progress = (text: string) => {
  if (process.stderr.isTTY) process.stderr.write(`\r\x1b[K${text}`);
};
export const progressDone = () => progress("");
/** The human-readable report; `--json` replaces it. */
export const say = (bench: Bench, text: string) => {
  if (!bench.opts.json) console.log(text);
};

async function put(bench: Bench, path: string, body: unknown) {
  const res = await fetch(`${bench.url}${path}`, { method: "PUT", body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`${path}: ${res.status}`);
}

/** Seeds `accounts` on every server in `servers`, 25 at a time. */
export async function seed(bench: Bench, servers: readonly string[], accounts: readonly string[]) {
  const all = servers.flatMap((server) => accounts.map((account) => ({ server, account })));
  for (let i = 0; i < all.length; i += 25) {
    progress(`seeding accounts ${i}/${all.length}`);
    await Promise.all(
      all
        .slice(i, i + 25)
        .map(({ server, account }) =>
          put(bench, `/v1/bank/${server}/accounts/${account}`, { balance: 1_000_000 }),
        ),
    );
  }
}

type Op = {
  server_id: string;
  account_id: string;
  operation: "withdraw" | "deposit" | "transfer";
  amount: number;
  to_account_id?: string;
};
/** One transaction to send: where, and its body. */
export type Request = { readonly path: string; readonly body: unknown };

export const transfer = (ops: Op[]): Request => ({ path: "/v1/transfers", body: ops });

export function sagaTransfer(from: string, to: string): Request {
  const money = (account: string) => ({ account, amount: 1 });
  // No `stage`: the branches run one after another, in list order.
  return {
    path: "/v1/transactions",
    body: {
      protocol: "saga",
      branches: [
        {
          participant: "bank-1",
          action: "withdraw",
          input: money(from),
          compensation: { action: "deposit", input: money(from) },
        },
        {
          participant: "bank-2",
          action: "deposit",
          input: money(to),
          compensation: { action: "withdraw", input: money(to) },
        },
      ],
    },
  };
}

interface View {
  readonly id?: string;
  readonly status: string;
  readonly reason?: string;
  readonly events?: readonly { readonly type: string }[];
}

/** The transaction view, or an error answer as a status of its own (`http_503`). */
async function viewOf(res: Response): Promise<View> {
  const text = await res.text();
  try {
    const view = JSON.parse(text) as Partial<View>;
    if (typeof view.status === "string") return view as View;
  } catch {
    // Not JSON: reported by its HTTP status below.
  }
  return { status: `http_${res.status}` };
}

interface Outcome {
  readonly committed: number;
  readonly latencies: number[];
  readonly reasons: Record<string, number>;
  readonly seconds: number;
  /** API requests made: each is one invocation of the API function. */
  readonly apiRequests: number;
  /** Restarts over all transactions, and the most one transaction had. */
  readonly restarts: number;
  readonly mostRestarts: number;
}

/**
 * Sends `count` transactions from `clients` concurrent clients; `make(n)` builds the n-th.
 * With `stopAt` (a `performance.now()` time), no client starts one after it.
 */
export async function drive(
  bench: Bench,
  label: string,
  count: number,
  clients: number,
  make: (n: number) => Request,
  stopAt = Number.POSITIVE_INFINITY,
) {
  const { url } = bench;
  const latencies: number[] = [];
  const reasons = new Map<string, number>();
  let committed = 0;
  /** Restarts (a transaction that died for contention, run again), from the views' events. */
  let restarts = 0;
  let mostRestarts = 0;
  let apiRequests = 0;
  let next = 0;
  let done = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      for (let n = next++; n < count && performance.now() < stopAt; n = next++) {
        const { path, body } = make(n);
        const t0 = performance.now();
        apiRequests += 1;
        const res = await fetch(`${url}${path}?wait=30000`, { method: "POST", body: JSON.stringify(body) });
        let view = await viewOf(res);
        // Past the longest wait the API allows: poll until the decision.
        while (view.status === "pending" && view.id) {
          await sleep(250);
          apiRequests += 1;
          view = await viewOf(await fetch(`${url}/v1/transactions/${view.id}`));
        }
        latencies.push(performance.now() - t0);
        const restarted = (view.events ?? []).filter((e) => e.type === "restarted").length;
        restarts += restarted;
        mostRestarts = Math.max(mostRestarts, restarted);
        if (view.status === "committed") committed++;
        else {
          const reason = view.reason ?? view.status;
          reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
        }
        done += 1;
        progress(
          Number.isFinite(stopAt)
            ? `${label}: ${done}, ${Math.max(0, (stopAt - performance.now()) / 1000).toFixed(0)} s left`
            : `${label}: ${done}/${count}`,
        );
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    committed,
    latencies,
    reasons: Object.fromEntries([...reasons].sort()),
    seconds,
    apiRequests,
    restarts,
    mostRestarts,
  } satisfies Outcome;
}

/**
 * Waits until the acknowledgements and completions of what was sent have
 * landed, so the counts cover whole transactions: no call for 750 ms besides
 * the pollers' receives and the sweeper's index queries, which never stop.
 */
export async function quiesce(bench: Bench, maxMs = 15_000) {
  const { meter } = bench;
  const busy = () =>
    Object.entries(meter.snapshot().calls)
      .filter(([k]) => k !== "sqs:ReceiveMessage" && k !== "dynamodb:Query")
      .reduce((sum, [, v]) => sum + v, 0);
  const deadline = Date.now() + maxMs;
  let last = busy();
  let quiet = 0;
  while (quiet < 3 && Date.now() < deadline) {
    await sleep(250);
    const now = busy();
    quiet = now === last ? quiet + 1 : 0;
    last = now;
  }
}

export const pct = (sorted: readonly number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
export const round = (n: number, digits = 2) => Number(n.toFixed(digits));
