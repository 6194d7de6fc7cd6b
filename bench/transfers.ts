/**
 * Benchmark: two-participant transfers at concurrency 1, 8 and 32 on the
 * embedded emulators. Prints committed transactions/s, latency from POST to
 * decision, and DynamoDB/SQS API calls per committed transaction by kind.
 *
 *   npm run bench                       # default: 200 transfers per level
 *   npm run bench -- --transfers 500 --levels 1,8,32 --pollers 2
 */
import { parseArgs } from "node:util";
import { CallCounter } from "../src/adapters/call-counter.ts";
import { loadConfig } from "../src/config.ts";
import { startEmulators } from "../src/local/emulators/index.ts";
import { startRuntime } from "../src/local/runtime.ts";
import { silentLog } from "../src/log.ts";

const { values } = parseArgs({
  options: {
    transfers: { type: "string", default: "200" },
    levels: { type: "string", default: "1,8,32" },
    pollers: { type: "string", default: "2" },
    accounts: { type: "string", default: "500" },
  },
});
const perLevel = Number(values.transfers);
const levels = String(values.levels).split(",").map(Number);
const accountsPerServer = Number(values.accounts);
if (![perLevel, accountsPerServer, ...levels].every((n) => Number.isInteger(n) && n > 0)) {
  console.error("--transfers, --accounts and --levels take positive integers");
  process.exit(2);
}

Object.assign(process.env, {
  AWS_ACCESS_KEY_ID: "bench",
  AWS_SECRET_ACCESS_KEY: "bench",
  AWS_REGION: "us-east-1",
});
const emulators = await startEmulators();
const counter = new CallCounter();
const config = loadConfig({
  ...process.env,
  AWS_ENDPOINT_URL_DYNAMODB: emulators.dynamodbEndpoint,
  AWS_ENDPOINT_URL_SQS: emulators.sqsEndpoint,
  CONCORD_PREFIX: "bench",
});
const runtime = await startRuntime({
  config,
  provision: true,
  port: 0,
  counter,
  visibilityTimeoutSeconds: 10,
  sweepIntervalMs: 1000,
  pollersPerQueue: Number(values.pollers),
  log: () => silentLog,
});
const url = runtime.url as string;

async function put(path: string, body: unknown) {
  const res = await fetch(`${url}${path}`, { method: "PUT", body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`${path}: ${res.status}`);
}

try {
  process.stdout.write(`seeding ${accountsPerServer} accounts on bank-1 and bank-2… `);
  for (let i = 0; i < accountsPerServer; i += 25) {
    await Promise.all(
      Array.from({ length: Math.min(25, accountsPerServer - i) }, (_, j) =>
        Promise.all([
          put(`/v1/bank/bank-1/accounts/a${i + j}`, { balance: 1_000_000 }),
          put(`/v1/bank/bank-2/accounts/a${i + j}`, { balance: 1_000_000 }),
        ]),
      ),
    );
  }
  console.log("done");

  const pct = (sorted: number[], p: number) =>
    sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
  const rows: string[] = [];
  for (const concurrency of levels) {
    counter.reset();
    const latencies: number[] = [];
    let committed = 0;
    let aborted = 0;
    const reasons = new Map<string, number>();
    let next = 0;
    const started = performance.now();
    // Each transfer takes the next account, so transfers in flight never collide on a lock.
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        for (let n = next++; n < perLevel; n = next++) {
          const account = `a${n % accountsPerServer}`;
          const t0 = performance.now();
          const res = await fetch(`${url}/v1/transfers?wait=30000`, {
            method: "POST",
            body: JSON.stringify([
              { server_id: "bank-1", account_id: account, operation: "withdraw", amount: 1 },
              { server_id: "bank-2", account_id: account, operation: "deposit", amount: 1 },
            ]),
          });
          const view = (await res.json()) as { status: string; reason?: string };
          latencies.push(performance.now() - t0);
          if (view.status === "committed") committed++;
          else {
            aborted++;
            reasons.set(view.reason ?? view.status, (reasons.get(view.reason ?? view.status) ?? 0) + 1);
          }
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    // Let acknowledgements land so the call counts cover whole transactions.
    await new Promise((r) => setTimeout(r, 1_500));
    latencies.sort((a, b) => a - b);
    const calls = counter.snapshot();
    const perTx = Object.entries(calls)
      .map(([k, v]) => `${k}=${(v / Math.max(1, committed)).toFixed(1)}`)
      .join(" ");
    rows.push(
      `concurrency ${String(concurrency).padStart(2)}: ${(committed / seconds).toFixed(1).padStart(6)} committed/s  ` +
        `p50 ${pct(latencies, 0.5).toFixed(0)} ms  p95 ${pct(latencies, 0.95).toFixed(0)} ms  p99 ${pct(latencies, 0.99).toFixed(0)} ms  ` +
        `(${committed} committed, ${aborted} not committed${reasons.size ? ` ${JSON.stringify(Object.fromEntries(reasons))}` : ""} in ${seconds.toFixed(1)} s)\n    calls per committed tx: ${perTx}`,
    );
    console.log(rows.at(-1));
  }
} finally {
  await runtime.stop();
  await emulators.stop();
}
