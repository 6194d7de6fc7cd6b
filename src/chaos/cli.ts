/**
 * `npm run chaos -- --transfers 10000 --servers 4 --accounts 32 --concurrency 32
 *    --drop 0.1 --dup 0.1 --delay 500 --kill-every 2s --seed S`
 *
 * Starts the emulators, runs every role as its own process with the fault plan
 * in its environment, SIGKILLs a random role on a seeded schedule and restarts
 * it, drives random transfers at the API, then stops the faults, waits for
 * every transaction to finish and checks design §4. Exit 0 when every
 * invariant holds, 1 on any violation, 2 when the run itself could not be made.
 */
import { createServer } from "node:net";
import { parseArgs } from "node:util";
import { createAwsClients, destroyAwsClients } from "../adapters/aws-clients.ts";
import { loadConfig } from "../config.ts";
import { type FaultPlan, parseFaultPlan } from "../faults/fault-plan.ts";
import { startEmulators, stopAllEmulatorsSync } from "../local/emulators/index.ts";
import { provision } from "../local/provision.ts";
import { checkInvariants, readDeadLetters, readState, unfinished } from "./checker.ts";
import { formatReport, progressLine } from "./report.ts";
import { killLoop, killSchedule, type RoleKey, Supervisor, sleep } from "./supervisor.ts";
import { accountsOf, type ClientRecord, runWorkload, transferSpecs } from "./workload.ts";

const USAGE = `usage: npm run chaos -- [options]
  --transfers N        transfers to run (10000)
  --servers N          bank servers, one process each (4)
  --accounts N         accounts, spread over the servers (32)
  --concurrency N      transfers in flight (32)
  --initial-balance N  starting balance of each account (100)
  --drop P             chance a message is lost (0.1)
  --dup P              chance a message is delivered twice (0.1)
  --delay MS           each delivery waits a random 0..MS ms, reordering them (500)
  --aws P              chance of a DynamoDB/SQS error per call: throttling, conflicts, 5xx (0)
  --sagas P            share of transfers run as sagas (withdraw, then deposit, with compensations) (0.2)
  --kill-every DUR     SIGKILL a random role this often, e.g. 2s, 500ms; 0 = never (2s)
  --kill-pause DUR     how long a killed role stays down (300ms)
  --crash-points       also restart killed roles armed to die at a random named crash point
  --max-seconds N      stop sending transfers after this long (900)
  --settle-seconds N   bound on finishing everything after the faults stop (120)
  --seed S             seed of every fault decision and of the workload (random)`;

function duration(name: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!m) throw new Error(`--${name} takes a duration like 2s or 500ms, got ${text}`);
  const n = Number(m[1]);
  return Math.round(m[2] === "s" ? n * 1000 : m[2] === "m" ? n * 60_000 : n);
}

function int(name: string, text: string, min: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} takes an integer >= ${min}, got ${text}`);
  return n;
}

function share(name: string, text: string): number {
  const n = Number(text);
  if (text.trim() === "" || !(n >= 0 && n <= 1))
    throw new Error(`--${name} takes a share from 0 to 1, got ${text}`);
  return n;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const address = s.address();
      const port = typeof address === "object" && address ? address.port : 0;
      s.close(() => resolve(port));
    });
  });
}

interface Settings {
  transfers: number;
  servers: number;
  accounts: number;
  concurrency: number;
  initialBalance: number;
  /** Share of transfers run as sagas. */
  sagaShare: number;
  killEveryMs: number;
  killPauseMs: number;
  crashPoints: boolean;
  maxSeconds: number;
  settleSeconds: number;
  plan: FaultPlan;
}

function parse(argv: string[]): Settings {
  const { values } = parseArgs({
    args: argv,
    options: {
      transfers: { type: "string", default: "10000" },
      servers: { type: "string", default: "4" },
      accounts: { type: "string", default: "32" },
      concurrency: { type: "string", default: "32" },
      "initial-balance": { type: "string", default: "100" },
      drop: { type: "string", default: "0.1" },
      dup: { type: "string", default: "0.1" },
      delay: { type: "string", default: "500" },
      aws: { type: "string", default: "0" },
      sagas: { type: "string", default: "0.2" },
      "kill-every": { type: "string", default: "2s" },
      "kill-pause": { type: "string", default: "300ms" },
      "crash-points": { type: "boolean", default: false },
      "max-seconds": { type: "string", default: "900" },
      "settle-seconds": { type: "string", default: "120" },
      seed: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : int("seed", values.seed, 0);
  const aws = Number(values.aws);
  const plan = parseFaultPlan({
    seed,
    drop: values.drop,
    dup: values.dup,
    delayMs: values.delay,
    reorder: true,
    aws:
      aws > 0
        ? [
            { service: "dynamodb", fault: "throttling", probability: aws },
            { service: "dynamodb", fault: "transaction-conflict", probability: aws },
            { service: "dynamodb", fault: "internal-error", probability: aws / 2 },
            { service: "sqs", fault: "sqs-service-unavailable", probability: aws / 2 },
            { service: "sqs", fault: "sqs-throttled", probability: aws / 2 },
          ]
        : [],
  });
  const settings: Settings = {
    transfers: int("transfers", values.transfers, 1),
    servers: int("servers", values.servers, 1),
    accounts: int("accounts", values.accounts, 2),
    concurrency: int("concurrency", values.concurrency, 1),
    initialBalance: int("initial-balance", values["initial-balance"], 1),
    sagaShare: share("sagas", values.sagas),
    killEveryMs: duration("kill-every", values["kill-every"]),
    killPauseMs: duration("kill-pause", values["kill-pause"]),
    crashPoints: values["crash-points"],
    maxSeconds: int("max-seconds", values["max-seconds"], 1),
    settleSeconds: int("settle-seconds", values["settle-seconds"], 1),
    plan,
  };
  return settings;
}

async function main(): Promise<number> {
  let s: Settings;
  try {
    s = parse(process.argv.slice(2));
  } catch (err) {
    console.error(`${err instanceof Error ? err.message : String(err)}\n\n${USAGE}`);
    return 2;
  }
  const { plan } = s;
  const settingsText =
    `${s.servers} servers, ${s.accounts} accounts, concurrency ${s.concurrency}, sagas ${s.sagaShare}, drop ${plan.drop}, dup ${plan.dup}, ` +
    `delay 0-${plan.delayMs} ms, aws ${plan.aws[0]?.probability ?? 0}, kill every ${s.killEveryMs || "never"} ms${s.crashPoints ? " + crash points" : ""}`;
  console.error(`chaos: seed ${plan.seed}; ${settingsText}`);

  console.error("chaos: starting DynamoDB Local and the SQS emulator…");
  const emulators = await startEmulators({});
  const servers = Array.from({ length: s.servers }, (_, i) => `bank-${i + 1}` as RoleKey);
  // The roles' environment, and this process's configuration (read from it, once).
  // The emulators check no credentials, but the SDK insists on having some.
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    AWS_ACCESS_KEY_ID: "local",
    AWS_SECRET_ACCESS_KEY: "local",
    AWS_REGION: "us-east-1",
    AWS_ENDPOINT_URL_DYNAMODB: emulators.dynamodbEndpoint,
    AWS_ENDPOINT_URL_SQS: emulators.sqsEndpoint,
    CONCORD_PREFIX: "chaos",
    CONCORD_BANK_SERVERS: servers.join(","),
    CONCORD_SWEEP_INTERVAL_SECONDS: "1",
    CONCORD_PREPARE_RETRY_MS: "500",
    CONCORD_DECISION_RETRY_MS: "500",
    CONCORD_BACKOFF_CAP_MS: "2000",
    CONCORD_IN_DOUBT_AFTER_MS: "3000",
    CONCORD_DEFAULT_TIMEOUT_MS: "10000",
    CONCORD_LOCAL_VISIBILITY_TIMEOUT_SECONDS: "2",
    CONCORD_LOG_LEVEL: "ERROR",
  };
  delete env.CONCORD_API_KEYS;
  delete env.CONCORD_ADMIN_KEYS;
  const config = loadConfig(env);
  const clients = createAwsClients(config);
  const roles: RoleKey[] = ["coordinator", ...servers, "sweeper", "api"];
  const apiPort = await freePort();
  const supervisor = new Supervisor({ roles, env, apiPort, seed: plan.seed });

  const abort = (signal: NodeJS.Signals) => {
    process.stderr.write(`\nchaos: ${signal}, stopping everything\n`);
    supervisor.killAllSync();
    stopAllEmulatorsSync();
    process.exit(130);
  };
  process.once("SIGINT", abort);
  process.once("SIGTERM", abort);

  try {
    await provision(config.topology, clients, { visibilityTimeoutSeconds: 2 });
    supervisor.setFaults(plan);
    console.error(`chaos: starting ${roles.length} role processes…`);
    await supervisor.startAll();
    const url = `http://127.0.0.1:${apiPort}`;

    const accounts = accountsOf(s.servers, s.accounts);
    for (const a of accounts) {
      for (let attempt = 1; ; attempt++) {
        const res = await fetch(`${url}/v1/bank/${a.server}/accounts/${a.account}`, {
          method: "PUT",
          body: JSON.stringify({ balance: s.initialBalance }),
        }).catch(() => undefined);
        if (res?.ok) break;
        if (attempt >= 20) throw new Error(`could not seed ${a.server}/${a.account}: ${res?.status}`);
        await sleep(250);
      }
    }

    // Chaos: the workload runs while the supervisor kills roles.
    const specs = transferSpecs(plan.seed, s.transfers, accounts, s.initialBalance, s.sagaShare);
    const records = new Map<string, ClientRecord>();
    const chaosStart = Date.now();
    let chaosOver = false;
    const kills =
      s.killEveryMs > 0
        ? killLoop(
            supervisor,
            killSchedule(plan.seed, roles, s.crashPoints),
            s.killEveryMs,
            s.killPauseMs,
            () => chaosOver,
          )
        : Promise.resolve();
    const tty = process.stderr.isTTY === true;
    let lastLine = 0;
    let done = 0;
    const showProgress = () => {
      const told = { committed: 0, aborted: 0, other: 0 };
      for (const r of records.values()) {
        if (r.told === "committed") told.committed++;
        else if (r.told === "aborted") told.aborted++;
        else told.other++;
      }
      const line = progressLine(
        done,
        s.transfers,
        chaosStart,
        `committed ${told.committed} aborted ${told.aborted} other ${told.other} | kills ${supervisor.stats.kills} crashes ${supervisor.stats.crashes}`,
      );
      if (tty) process.stderr.write(`\r${line}\x1b[K`);
      else if (Date.now() - lastLine > 5000) {
        lastLine = Date.now();
        process.stderr.write(`${line}\n`);
      }
    };
    const ticker = setInterval(showProgress, tty ? 250 : 1000);
    await runWorkload(
      {
        url,
        specs,
        concurrency: s.concurrency,
        deadline: chaosStart + s.maxSeconds * 1000,
        waitMs: 8000,
        maxAttempts: 30,
      },
      records,
      (p) => {
        done = p.done;
      },
    );
    chaosOver = true;
    clearInterval(ticker);
    lastLine = 0;
    showProgress();
    if (tty) process.stderr.write("\n");
    await kills;
    const chaosMs = Date.now() - chaosStart;

    // Faults stop: every role restarts without the plan; everything must finish on its own.
    console.error(
      "chaos: faults stopped; restarting every role without faults, waiting for everything to finish…",
    );
    supervisor.setFaults(undefined);
    await supervisor.restartAll();
    const stoppedAt = Date.now();
    let resolveMs: number | undefined;
    let state = await readState(clients, config);
    while (Date.now() - stoppedAt < s.settleSeconds * 1000) {
      const left = unfinished(state);
      if (left === 0) {
        resolveMs = Date.now() - stoppedAt;
        break;
      }
      if (tty) process.stderr.write(`\r  ${left} unfinished (transactions, locks, prepared barriers)\x1b[K`);
      await sleep(500);
      state = await readState(clients, config);
    }
    if (tty) process.stderr.write("\n");
    const deadLetters = await readDeadLetters(clients, config);
    const violations = checkInvariants({
      state,
      specs,
      records,
      accounts,
      initialBalance: s.initialBalance,
    });
    console.log(
      formatReport({
        seed: plan.seed,
        settings: settingsText,
        transfers: s.transfers,
        records,
        state,
        chaosMs,
        resolveMs,
        supervisor: supervisor.stats,
        deadLetters,
        violations,
      }),
    );
    return violations.length === 0 ? 0 : 1;
  } finally {
    await supervisor.stop();
    destroyAwsClients(clients);
    await emulators.stop();
  }
}

main()
  .then((code) => process.exit(code))
  .catch((err: unknown) => {
    console.error(`chaos: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    stopAllEmulatorsSync();
    process.exit(2);
  });
