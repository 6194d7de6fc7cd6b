/**
 * Benchmark: transfers through the whole local stack (API, coordinator,
 * participants, sweeper in this process; DynamoDB Local and the SQS emulator
 * as child processes). Per concurrency level: committed transactions/s,
 * latency from POST to decision, AWS calls, DynamoDB capacity units and CPU
 * time per committed transaction, and what that would cost on AWS
 * (bench/cost-model.ts). `--hot` measures contention instead. docs/performance.md
 * explains every figure.
 *
 *   npm run bench                                  # 2-party cross-server 2PC, levels 1,8,32
 *   npm run bench -- --transfers 300 --levels 1,8,32 --json
 *   npm run bench -- --protocol saga               # withdraw, then deposit, each with its compensation
 *   npm run bench -- --one-phase                   # every branch on one participant
 *   npm run bench -- --hot --lock-policy detect    # contended accounts beside an uncontended run
 */
import { Command, InvalidArgumentError, Option } from "commander";
import { loadConfig } from "../src/config.ts";
import { LOCK_POLICIES, type LockPolicy } from "../src/core/lock-policy.ts";
import { type Emulators, startEmulators } from "../src/local/emulators/index.ts";
import { startRuntime } from "../src/local/runtime.ts";
import { sleep } from "../src/timers.ts";
import { silentLogger } from "../testkit/logging.ts";
import {
  costPerMillion,
  LAMBDA_MEMORY_MB,
  STEP_FUNCTIONS_TWO_STEP_SAGA_TRANSITIONS,
  stepFunctionsStandardPerMillion,
} from "./cost-model.ts";
import { Meter } from "./meter.ts";

const positiveInt = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError("a positive integer");
  return n;
};
const intList = (value: string): number[] => value.split(",").map((v) => positiveInt(v.trim()));

const program = new Command("bench")
  .description(
    "Transfers through the whole local stack. Uses the emulators at AWS_ENDPOINT_URL_DYNAMODB and " +
      "AWS_ENDPOINT_URL_SQS when both are set, else starts its own.",
  )
  .option(
    "--transfers <n>",
    "transfers per concurrency level, default 200 (with --hot: per run, default 300)",
    positiveInt,
  )
  .option("--levels <list>", "concurrency levels, comma-separated", intList, [1, 8, 32])
  .option("--accounts <n>", "accounts seeded per bank server", positiveInt, 500)
  .option("--pollers <n>", "parallel pollers per queue, like Lambda's concurrent invocations", positiveInt, 2)
  .addOption(
    new Option("--protocol <protocol>", "2pc: one transfer, two servers; saga: withdraw, then deposit")
      .choices(["2pc", "saga"])
      .default("2pc"),
  )
  .option("--one-phase", "every branch on one participant: a same-server transfer", false)
  .option("--hot", "contention: 3 servers x 5 accounts and one account fed by 50, beside an uncontended run")
  .option("--clients <n>", "concurrent clients of the --hot runs", positiveInt, 16)
  .addOption(
    new Option("--lock-policy <policy>", "lock policy of the participants (CONCORD_LOCK_POLICY)").choices(
      LOCK_POLICIES,
    ),
  )
  .option("--seed <n>", "seed of the --hot runs' random transfers", positiveInt, 1)
  .option("--prefix <name>", "prefix of the bench's tables and queues", "bench")
  .option("--json", "one JSON object per line per level (or per --hot run) on stdout, nothing else")
  .showHelpAfterError();
program.parse();
const opts = program.opts<{
  transfers?: number;
  levels: number[];
  accounts: number;
  pollers: number;
  protocol: "2pc" | "saga";
  onePhase: boolean;
  hot?: boolean;
  clients: number;
  lockPolicy?: LockPolicy;
  seed: number;
  prefix: string;
  json?: boolean;
}>();
if (opts.hot && (opts.protocol !== "2pc" || opts.onePhase)) program.error("--hot runs 2pc transfers only");

/** Progress for a person watching: on stderr, and only on a terminal. */
const progress = (text: string) => {
  if (process.stderr.isTTY) process.stderr.write(`\r\x1b[K${text}`);
};
const progressDone = () => progress("");
/** The human-readable report; `--json` replaces it. */
const say = (text: string) => {
  if (!opts.json) console.log(text);
};

Object.assign(process.env, {
  AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID ?? "bench",
  AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY ?? "bench",
  AWS_REGION: process.env.AWS_REGION ?? "us-east-1",
});
const given =
  process.env.AWS_ENDPOINT_URL_DYNAMODB && process.env.AWS_ENDPOINT_URL_SQS
    ? {
        dynamodbEndpoint: process.env.AWS_ENDPOINT_URL_DYNAMODB,
        sqsEndpoint: process.env.AWS_ENDPOINT_URL_SQS,
      }
    : undefined;
progress("starting the emulators…");
const emulators: Pick<Emulators, "dynamodbEndpoint" | "sqsEndpoint"> & { stop(): Promise<void> } = given
  ? { ...given, stop: async () => {} }
  : await startEmulators();
const meter = new Meter();
const config = loadConfig({
  ...process.env,
  AWS_ENDPOINT_URL_DYNAMODB: emulators.dynamodbEndpoint,
  AWS_ENDPOINT_URL_SQS: emulators.sqsEndpoint,
  CONCORD_PREFIX: opts.prefix,
  // The bench measures transfers; idle e-commerce queues would only add empty polls.
  CONCORD_COMMERCE_PARTICIPANTS: "none",
  ...(opts.lockPolicy ? { CONCORD_LOCK_POLICY: opts.lockPolicy } : {}),
});
progress("provisioning tables and queues…");
const runtime = await startRuntime({
  config,
  provision: true,
  port: 0,
  counter: meter.counter,
  visibilityTimeoutSeconds: 10,
  sweepIntervalMs: 1000,
  pollersPerQueue: opts.pollers,
  log: silentLogger(),
});
// Every DynamoDB client of the roles: the document client shares this middleware stack.
meter.meterCapacity(runtime.clients.dynamodb);
const url = runtime.url as string;

async function put(path: string, body: unknown) {
  const res = await fetch(`${url}${path}`, { method: "PUT", body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`${path}: ${res.status}`);
}

/** Seeds `accounts` on every server in `servers`, 25 at a time. */
async function seed(servers: readonly string[], accounts: readonly string[]) {
  const all = servers.flatMap((server) => accounts.map((account) => ({ server, account })));
  for (let i = 0; i < all.length; i += 25) {
    progress(`seeding accounts ${i}/${all.length}`);
    await Promise.all(
      all
        .slice(i, i + 25)
        .map(({ server, account }) => put(`/v1/bank/${server}/accounts/${account}`, { balance: 1_000_000 })),
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
type Request = { readonly path: string; readonly body: unknown };

const transfer = (ops: Op[]): Request => ({ path: "/v1/transfers", body: ops });

function sagaTransfer(from: string, to: string): Request {
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
}

/** Sends `count` transactions from `clients` concurrent clients; `make(n)` builds the n-th. */
async function drive(label: string, count: number, clients: number, make: (n: number) => Request) {
  const latencies: number[] = [];
  const reasons = new Map<string, number>();
  let committed = 0;
  let apiRequests = 0;
  let next = 0;
  let done = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      for (let n = next++; n < count; n = next++) {
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
        if (view.status === "committed") committed++;
        else {
          const reason = view.reason ?? view.status;
          reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
        }
        progress(`${label}: ${++done}/${count}`);
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
  } satisfies Outcome;
}

/**
 * Waits until the acknowledgements and completions of what was sent have
 * landed, so the counts cover whole transactions: no call for 750 ms besides
 * the pollers' receives and the sweeper's index queries, which never stop.
 */
async function quiesce(maxMs = 15_000) {
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

const pct = (sorted: readonly number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
const round = (n: number, digits = 2) => Number(n.toFixed(digits));

/** The JSON line of one concurrency level: exactly these fields (test/bench/bench-json.test.ts). */
interface LevelResult {
  readonly concurrency: number;
  readonly committed: number;
  readonly committedPerSecond: number;
  readonly p50Ms: number;
  readonly p95Ms: number;
  readonly p99Ms: number;
  readonly callsPerTx: Record<string, number>;
  readonly callsPerTxTotal: number;
  readonly capacityUnitsPerTx: { readonly read: number; readonly write: number };
  readonly cpuMsPerTx: number;
  readonly usdPerMillion: number;
}

async function runLevels(perLevel: number) {
  const accounts = Array.from({ length: opts.accounts }, (_, i) => `a${i}`);
  await seed(opts.onePhase ? ["bank-1"] : ["bank-1", "bank-2"], accounts);
  const half = Math.floor(opts.accounts / 2);
  // Transfers in flight take consecutive accounts, so they never collide on a lock.
  const make = (n: number): Request => {
    const a = `a${n % opts.accounts}`;
    if (opts.onePhase) {
      const b = `a${(n + half) % opts.accounts}`;
      return transfer([
        { server_id: "bank-1", account_id: a, operation: "transfer", amount: 1, to_account_id: b },
      ]);
    }
    if (opts.protocol === "saga") return sagaTransfer(a, a);
    return transfer([
      { server_id: "bank-1", account_id: a, operation: "withdraw", amount: 1 },
      { server_id: "bank-2", account_id: a, operation: "deposit", amount: 1 },
    ]);
  };
  const workload = opts.onePhase
    ? "one participant (same-server transfer)"
    : opts.protocol === "saga"
      ? "2-step saga (withdraw on bank-1, then deposit on bank-2)"
      : "2-party cross-server 2PC transfer";
  progressDone();
  say(`${workload}, ${perLevel} per level, Lambda at ${LAMBDA_MEMORY_MB} MB`);

  for (const concurrency of opts.levels) {
    await quiesce();
    meter.reset();
    const cpu0 = process.cpuUsage();
    const outcome = await drive(`concurrency ${concurrency}`, perLevel, concurrency, make);
    await quiesce();
    const cpu = process.cpuUsage(cpu0);
    const m = meter.snapshot();
    const per = (n: number) => n / Math.max(1, outcome.committed);
    const callsPerTx = Object.fromEntries(Object.entries(m.calls).map(([k, v]) => [k, round(per(v), 3)]));
    const cpuMsPerTx = per((cpu.user + cpu.system) / 1000);
    const cost = costPerMillion({
      readUnits: per(m.readUnits),
      writeUnits: per(m.writeUnits),
      sqsBilledRequests: per(m.sqsBilledRequests),
      lambdaInvocations: per(outcome.apiRequests + m.handlerBatches),
      lambdaMs: cpuMsPerTx,
    });
    const { latencies } = outcome;
    const result: LevelResult = {
      concurrency,
      committed: outcome.committed,
      committedPerSecond: round(outcome.committed / outcome.seconds),
      p50Ms: round(pct(latencies, 0.5), 1),
      p95Ms: round(pct(latencies, 0.95), 1),
      p99Ms: round(pct(latencies, 0.99), 1),
      callsPerTx,
      callsPerTxTotal: round(
        Object.values(callsPerTx).reduce((a, b) => a + b, 0),
        3,
      ),
      capacityUnitsPerTx: { read: round(per(m.readUnits), 3), write: round(per(m.writeUnits), 3) },
      cpuMsPerTx: round(cpuMsPerTx, 3),
      usdPerMillion: round(cost.total),
    };
    progressDone();
    if (opts.json) {
      console.log(JSON.stringify(result));
      continue;
    }
    const notCommitted = perLevel - outcome.committed;
    say(
      `concurrency ${String(concurrency).padStart(2)}: ${result.committedPerSecond.toFixed(1).padStart(6)} committed/s  ` +
        `p50 ${result.p50Ms.toFixed(0)} ms  p95 ${result.p95Ms.toFixed(0)} ms  p99 ${result.p99Ms.toFixed(0)} ms  ` +
        `(${outcome.committed} committed, ${notCommitted} not committed` +
        `${notCommitted ? ` ${JSON.stringify(outcome.reasons)}` : ""} in ${outcome.seconds.toFixed(1)} s)\n` +
        `    calls per committed tx: ${result.callsPerTxTotal.toFixed(1)} = ` +
        `${Object.entries(callsPerTx)
          .map(([k, v]) => `${k}=${v.toFixed(1)}`)
          .join(" ")}\n` +
        `    capacity units per tx: read ${result.capacityUnitsPerTx.read.toFixed(2)}, write ${result.capacityUnitsPerTx.write.toFixed(2)} = ` +
        `${Object.entries(m.unitsByCall)
          .map(([k, v]) => `${k}=${per(v).toFixed(1)}`)
          .join(" ")}\n    ` +
        `CPU ${result.cpuMsPerTx.toFixed(2)} ms per tx; ` +
        `invocations per tx ${per(outcome.apiRequests + m.handlerBatches).toFixed(2)}; ` +
        `SQS billed requests per tx ${per(m.sqsBilledRequests).toFixed(1)}\n` +
        `    USD per million: ${cost.total.toFixed(2)} (DynamoDB read ${cost.dynamodbRead.toFixed(2)}, ` +
        `write ${cost.dynamodbWrite.toFixed(2)}; SQS ${cost.sqs.toFixed(2)}; Lambda requests ${cost.lambdaRequests.toFixed(2)}, ` +
        `duration ${cost.lambdaDuration.toFixed(2)})`,
    );
  }
  if (opts.protocol === "saga" && !opts.onePhase) {
    say(
      `Step Functions Standard, the same 2-step saga: USD ${stepFunctionsStandardPerMillion().toFixed(2)} per million ` +
        `for its ${STEP_FUNCTIONS_TWO_STEP_SAGA_TRANSITIONS} state transitions alone (no compensation taken), ` +
        "before the Lambda functions its tasks call",
    );
  }
}

/** A `--hot` run's JSON line. */
interface HotResult {
  readonly run: "uncontended" | "hot-accounts" | "fan-in";
  readonly lockPolicy: LockPolicy;
  readonly clients: number;
  readonly transfers: number;
  readonly committed: number;
  readonly committedShare: number;
  readonly abortReasons: Record<string, number>;
  readonly committedPerSecond: number;
  readonly p50Ms: number;
  readonly p95Ms: number;
  readonly p99Ms: number;
  readonly ratioToUncontended: number;
}

/** A small deterministic generator (mulberry32), so a --seed repeats the same transfers. */
function random(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

async function runHot(count: number) {
  const servers = config.bankServers;
  if (servers.length < 3) program.error("--hot needs at least 3 bank servers");
  const [s1, s2, s3] = servers as [string, string, string];
  const policy = config.participants.lockPolicy;
  const spread = Array.from({ length: 100 }, (_, i) => `u${i}`);
  const hot = Array.from({ length: 5 }, (_, i) => `h${i}`);
  const feeders = Array.from({ length: 50 }, (_, i) => `f${i}`);
  await seed([s1, s2, s3], [...spread, ...hot]);
  await seed([s1], ["sink"]);
  await seed([s2, s3], feeders);
  const rng = random(opts.seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)] as T;
  const move = (from: string, fromAccount: string, to: string, toAccount: string): Request =>
    transfer([
      { server_id: from, account_id: fromAccount, operation: "withdraw", amount: 1 },
      { server_id: to, account_id: toAccount, operation: "deposit", amount: 1 },
    ]);
  // Drawn up front so every run sends the same transfers whatever the timing.
  const random15 = Array.from({ length: count }, () => {
    const from = pick(servers.slice(0, 3));
    return move(from, pick(hot), pick(servers.slice(0, 3).filter((s) => s !== from)), pick(hot));
  });
  const runs: [HotResult["run"], string, (n: number) => Request][] = [
    [
      "uncontended",
      `${count} transfers, each on accounts no other transfer in flight touches`,
      // Consecutive transfers are in flight together; 100 accounts per server keep them apart.
      (n) => move(servers[n % 3] as string, `u${n % 100}`, servers[(n + 1) % 3] as string, `u${n % 100}`),
    ],
    [
      "hot-accounts",
      `${count} random cross-server transfers among 3 servers x 5 accounts`,
      (n) => random15[n] as Request,
    ],
    [
      "fan-in",
      `${count} deposits into ${s1}/sink from 50 accounts on ${s2} and ${s3}`,
      (n) => move(n % 2 ? s3 : s2, `f${n % 50}`, s1, "sink"),
    ],
  ];
  progressDone();
  say(`contention, ${opts.clients} clients, lock policy ${policy}`);
  let uncontendedRate = 0;
  for (const [run, description, make] of runs) {
    await quiesce();
    const outcome = await drive(run, count, opts.clients, make);
    const rate = outcome.committed / outcome.seconds;
    if (run === "uncontended") uncontendedRate = rate;
    const { latencies } = outcome;
    const result: HotResult = {
      run,
      lockPolicy: policy,
      clients: opts.clients,
      transfers: count,
      committed: outcome.committed,
      committedShare: round(outcome.committed / count, 4),
      abortReasons: outcome.reasons,
      committedPerSecond: round(rate),
      p50Ms: round(pct(latencies, 0.5), 1),
      p95Ms: round(pct(latencies, 0.95), 1),
      p99Ms: round(pct(latencies, 0.99), 1),
      ratioToUncontended: round(uncontendedRate > 0 ? rate / uncontendedRate : 0, 3),
    };
    progressDone();
    if (opts.json) {
      console.log(JSON.stringify(result));
      continue;
    }
    say(
      `${run.padEnd(12)} ${description}\n` +
        `    ${result.committed}/${count} committed (${(100 * result.committedShare).toFixed(1)}%)` +
        `${Object.keys(result.abortReasons).length ? `, not committed: ${JSON.stringify(result.abortReasons)}` : ""}\n` +
        `    ${result.committedPerSecond.toFixed(1)} committed/s (${(100 * result.ratioToUncontended).toFixed(0)}% of uncontended)  ` +
        `p50 ${result.p50Ms.toFixed(0)} ms  p95 ${result.p95Ms.toFixed(0)} ms  p99 ${result.p99Ms.toFixed(0)} ms`,
    );
  }
}

const stop = async () => {
  await runtime.stop();
  await emulators.stop();
};
process.once("SIGINT", () => {
  void stop().finally(() => process.exit(130));
});
try {
  if (opts.hot) await runHot(opts.transfers ?? 300);
  else await runLevels(opts.transfers ?? 200);
} finally {
  progressDone();
  await stop();
}
