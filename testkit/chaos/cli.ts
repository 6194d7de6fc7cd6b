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
import { Command, Option } from "commander";
import { createAwsClients, destroyAwsClients } from "../../src/adapters/aws-clients.ts";
import { durationArg, intArg, shareArg, usageErrorsExit } from "../../src/cli-args.ts";
import { loadConfig } from "../../src/config.ts";
import { startEmulators, stopAllEmulatorsSync } from "../../src/local/emulators/index.ts";
import { provision } from "../../src/local/provision.ts";
import { createProgress } from "../../src/progress.ts";
import { sleep } from "../../src/timers.ts";
import { type FaultPlan, parseFaultPlan } from "../faults/fault-plan.ts";
import { checkInvariants, readDeadLetters, readState, unfinished } from "./checker.ts";
import { formatReport, progressLine } from "./report.ts";
import { killLoop, killSchedule, type RoleKey, Supervisor } from "./supervisor.ts";
import { accountsOf, type ClientRecord, runWorkload, transferSpecs } from "./workload.ts";

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

interface Options {
  transfers: number;
  servers: number;
  accounts: number;
  concurrency: number;
  initialBalance: number;
  drop: number;
  dup: number;
  delay: number;
  aws: number;
  sagas: number;
  killEvery: number;
  killPause: number;
  crashPoints: boolean;
  maxSeconds: number;
  settleSeconds: number;
  seed?: number;
}

const program = usageErrorsExit(
  new Command("npm run chaos --")
    .description(
      "Runs every role as its own process over the emulators with a fault plan, kills roles on a seeded " +
        "schedule, drives random transfers, then checks the design's invariants. " +
        "Exit 0: every invariant holds; 1: a violation; 2: the run could not be made.",
    )
    .option("--transfers <n>", "transfers to run", intArg(1), 10_000)
    .option("--servers <n>", "bank servers, one process each", intArg(1), 4)
    .option("--accounts <n>", "accounts, spread over the servers", intArg(2), 32)
    .option("--concurrency <n>", "transfers in flight", intArg(1), 32)
    .option("--initial-balance <n>", "starting balance of each account", intArg(1), 100)
    .option("--drop <p>", "chance a message is lost", shareArg, 0.1)
    .option("--dup <p>", "chance a message is delivered twice", shareArg, 0.1)
    .option("--delay <ms>", "each delivery waits a random 0..MS ms, reordering them", intArg(0, 900_000), 500)
    .option("--aws <p>", "chance of a DynamoDB/SQS error per call: throttling, conflicts, 5xx", shareArg, 0)
    .option(
      "--sagas <p>",
      "share of transfers run as sagas (withdraw, then deposit, with compensations)",
      shareArg,
      0.2,
    )
    .addOption(
      new Option("--kill-every <duration>", "SIGKILL a random role this often, e.g. 2s, 500ms; 0 = never")
        .argParser(durationArg)
        .default(2000, "2s"),
    )
    .addOption(
      new Option("--kill-pause <duration>", "how long a killed role stays down")
        .argParser(durationArg)
        .default(300, "300ms"),
    )
    .option("--crash-points", "also restart killed roles armed to die at a random named crash point", false)
    .option("--max-seconds <n>", "stop sending transfers after this long", intArg(1), 900)
    .option("--settle-seconds <n>", "bound on finishing everything after the faults stop", intArg(1), 120)
    .option("--seed <n>", "seed of every fault decision and of the workload (default: random)", intArg(0)),
  2,
);

function settingsOf(o: Options): Settings {
  const seed = o.seed ?? Math.floor(Math.random() * 2 ** 31);
  const aws = o.aws;
  const plan = parseFaultPlan({
    seed,
    drop: o.drop,
    dup: o.dup,
    delayMs: o.delay,
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
  return {
    transfers: o.transfers,
    servers: o.servers,
    accounts: o.accounts,
    concurrency: o.concurrency,
    initialBalance: o.initialBalance,
    sagaShare: o.sagas,
    killEveryMs: o.killEvery,
    killPauseMs: o.killPause,
    crashPoints: o.crashPoints,
    maxSeconds: o.maxSeconds,
    settleSeconds: o.settleSeconds,
    plan,
  };
}

async function main(): Promise<number> {
  const s = settingsOf(program.parse().opts<Options>());
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
    const progress = createProgress();
    let done = 0;
    const showProgress = () => {
      const told = { committed: 0, aborted: 0, other: 0 };
      for (const r of records.values()) {
        if (r.told === "committed") told.committed++;
        else if (r.told === "aborted") told.aborted++;
        else told.other++;
      }
      return progressLine(
        done,
        s.transfers,
        chaosStart,
        `committed ${told.committed} aborted ${told.aborted} other ${told.other} | kills ${supervisor.stats.kills} crashes ${supervisor.stats.crashes}`,
      );
    };
    const ticker = setInterval(() => progress.update(showProgress()), progress.live ? 250 : 1000);
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
    progress.done(showProgress());
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
      progress.update(`  ${left} unfinished (transactions, locks, prepared barriers)`);
      await sleep(500);
      state = await readState(clients, config);
    }
    progress.end();
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
