/** The bench's command line: `npm run bench -- --help`. */
import { Command, InvalidArgumentError, Option } from "commander";
import { MAX_BRANCHES } from "../src/api/schemas.ts";
import { LOCK_POLICIES, type LockPolicy } from "../src/core/lock-policy.ts";

const positiveInt = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError("a positive integer");
  return n;
};
const nonNegativeNumber = (value: string): number => {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < 0)
    throw new InvalidArgumentError("a number of seconds, 0 or more");
  return n;
};
const intList = (value: string): number[] => value.split(",").map((v) => positiveInt(v.trim()));

export interface BenchOptions {
  readonly transfers?: number;
  readonly levels: number[];
  /** Accounts seeded per bank server; parseOptions fills the default. */
  readonly accounts: number;
  readonly participants: number;
  readonly warmup: number;
  readonly pollers: number;
  readonly protocol: "2pc" | "saga";
  readonly onePhase: boolean;
  readonly hot?: boolean;
  readonly clients: number;
  readonly lockPolicy?: LockPolicy;
  readonly seed: number;
  readonly prefix: string;
  readonly json?: boolean;
}

/** Parses `process.argv`; exits with the usage on a bad option. */
export function parseOptions(): { opts: BenchOptions; fail: (message: string) => never } {
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
    .option(
      "--accounts <n>",
      "accounts seeded per bank server, default 500 (with --participants above 2: four times the highest level, at least 8)",
      positiveInt,
    )
    .option(
      "--participants <n>",
      "2pc across n bank servers, one branch each (withdraw, deposit, withdraw, ...)",
      positiveInt,
      2,
    )
    .option(
      "--warmup <seconds>",
      "at most this long, unmeasured, the same transactions at the highest level (with --hot: the uncontended ones) before anything is measured, until two 5 s rounds in a row fail to beat the best before them by 5 %; 0 for none",
      nonNegativeNumber,
      120,
    )
    .option(
      "--pollers <n>",
      "parallel pollers per queue, like Lambda's concurrent invocations",
      positiveInt,
      2,
    )
    .addOption(
      new Option("--protocol <protocol>", "2pc: one transfer, two servers; saga: withdraw, then deposit")
        .choices(["2pc", "saga"])
        .default("2pc"),
    )
    .option("--one-phase", "every branch on one participant: a same-server transfer", false)
    .option(
      "--hot",
      "contention: 3 servers x 5 accounts and one account fed by 50, beside an uncontended run",
    )
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
  const given = program.opts<Omit<BenchOptions, "accounts"> & { accounts?: number }>();
  if (given.hot && (given.protocol !== "2pc" || given.onePhase || given.participants !== 2)) {
    program.error("--hot runs 2-party 2pc transfers only");
  }
  if (given.participants !== 2 && (given.protocol !== "2pc" || given.onePhase)) {
    program.error(
      "--participants runs 2pc across that many servers: not with --protocol saga or --one-phase",
    );
  }
  if (given.participants < 2) program.error("--participants: at least 2 (one participant is --one-phase)");
  if (given.participants > MAX_BRANCHES) {
    program.error(`--participants: at most ${MAX_BRANCHES}, the API's limit of branches`);
  }
  // In-flight transactions take consecutive accounts; past 2 servers, seeding 500 on each would dominate.
  const accounts =
    given.accounts ?? (given.participants > 2 ? Math.max(8, 4 * Math.max(...given.levels)) : 500);
  const opts: BenchOptions = { ...given, accounts };
  return { opts, fail: (message) => program.error(message) };
}
