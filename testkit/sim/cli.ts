/**
 * Runs the deterministic simulation over many seeds, or replays one.
 *   npm run sim -- --seeds 10000 --start 1
 *   npm run sim -- --seed 4242 --trace
 *   npm run sim -- --seeds 2000 --saga-share 0.5 --mutant no-compensation-barrier
 *   npm run sim -- --seeds 500 --mutant late-prepare-votes-no
 *   npm run sim -- --seeds 1000 --no-http     (bank participants only, as before HTTP participants were simulated)
 *   npm run sim -- --seeds 200 --expiry --mutant expires-at-write
 *   npm run sim -- --seeds 500 --mutant one-phase-aborts-alone
 *   npm run sim -- --seeds 500 --answers queued    (every answer through the coordinator queue)
 *   npm run sim -- --seeds 500 --self-delivery on  (a participant handles what is sent to itself in its handler)
 *   npm run sim -- --seeds 500 --vote-with-prepare on  (a yes vote written with the prepare it stands on)
 * Exits non-zero on the first violation, after printing its seed, the invariant and the trace.
 */
import { Command, Option } from "commander";
import { choiceArg, intArg, shareArg, usageErrorsExit } from "../../src/cli-args.ts";
import { LOCK_POLICIES, type LockPolicy } from "../../src/core/lock-policy.ts";
import { LOCK_MODES, type LockMode } from "../../src/participant-kit/lock-mode.ts";
import { createProgress } from "../../src/progress.ts";
import { DEFAULT_SAGA_SHARE, type SimulationOptions, type SimulationResult } from "./model.ts";
import { COORDINATOR_MUTANTS, DIRECT_MUTANTS, HTTP_MUTANTS, MUTANTS, type Mutant } from "./mutants.ts";
import { runSimulation } from "./simulation.ts";

const mutants = [
  ...Object.keys(MUTANTS),
  ...HTTP_MUTANTS,
  ...COORDINATOR_MUTANTS,
  ...DIRECT_MUTANTS,
] as Mutant[];

const program = usageErrorsExit(
  new Command("npm run sim --")
    .description(
      "Runs the deterministic simulation over many seeds, or replays one. Exits 1 on the first violation, " +
        "after printing its seed, the invariant and the trace; 2 on a bad option.",
    )
    .option("--seeds <n>", "how many seeds to run", intArg(), 1000)
    .option("--start <n>", "the first seed", intArg(), 1)
    .option("--seed <n>", "replay this one seed", intArg())
    .option("--trace", "with --seed: print every step", false)
    .addOption(
      new Option("--mutant <name>", "run a deliberately broken store, dispatcher or coordinator").argParser(
        choiceArg(mutants),
      ),
    )
    .option("--saga-share <p>", "share of transactions run as sagas", shareArg, DEFAULT_SAGA_SHARE)
    .addOption(
      new Option("--lock-policy <policy>", "one lock policy for every run").argParser(
        choiceArg(LOCK_POLICIES),
      ),
    )
    .addOption(
      new Option(
        "--lock-mode <mode>",
        "how every run's accounts hold quantities; else drawn per seed, exclusive in one in four",
      ).argParser(choiceArg(LOCK_MODES)),
    )
    .option("--no-http", "bank participants only, as before HTTP participants were simulated")
    .option("--expiry", "the barrier-expiry clock in every seed (else in one seed in four)", false)
    .addOption(
      new Option(
        "--answers <path>",
        "participants' answers applied directly (the queue the fallback) or all through the coordinator queue; else drawn per seed, direct in three in four",
      ).argParser(choiceArg(["direct", "queued"] as const)),
    )
    .addOption(
      new Option(
        "--self-delivery <on|off>",
        "with direct answers, messages to the answering participant itself handled in its handler, or sent through its queue; else drawn per seed, on in three in four",
      ).argParser(choiceArg(["on", "off"] as const)),
    )
    .addOption(
      new Option(
        "--vote-with-prepare <on|off>",
        "with direct answers, a yes vote written with the prepare it stands on, or after it; else drawn per seed, on in three in four",
      ).argParser(choiceArg(["on", "off"] as const)),
    ),
  2,
);
const opts = program.parse().opts<{
  seeds: number;
  start: number;
  seed?: number;
  trace: boolean;
  mutant?: Mutant;
  sagaShare: number;
  lockPolicy?: LockPolicy;
  lockMode?: LockMode;
  http: boolean;
  expiry: boolean;
  answers?: "direct" | "queued";
  selfDelivery?: "on" | "off";
  voteWithPrepare?: "on" | "off";
}>();
const { mutant, sagaShare, lockPolicy } = opts;
const values = { trace: opts.trace, "no-http": !opts.http, expiry: opts.expiry };
/** Everything but the seed and the trace: what a replay must pass again. */
const runOptions: Omit<SimulationOptions, "seed"> = {
  sagaShare,
  ...(mutant ? { mutant } : {}),
  ...(lockPolicy ? { lockPolicy } : {}),
  ...(opts.lockMode ? { lockMode: opts.lockMode } : {}),
  ...(values["no-http"] ? { httpParticipants: false } : {}),
  ...(values.expiry ? { expiry: true } : {}),
  ...(opts.answers ? { directAnswers: opts.answers === "direct" } : {}),
  ...(opts.selfDelivery ? { selfDelivery: opts.selfDelivery === "on" } : {}),
  ...(opts.voteWithPrepare ? { voteWithPrepare: opts.voteWithPrepare === "on" } : {}),
};
const replayFlags = [
  sagaShare !== DEFAULT_SAGA_SHARE ? ` --saga-share ${sagaShare}` : "",
  lockPolicy ? ` --lock-policy ${lockPolicy}` : "",
  opts.lockMode ? ` --lock-mode ${opts.lockMode}` : "",
  mutant ? ` --mutant ${mutant}` : "",
  values["no-http"] ? " --no-http" : "",
  values.expiry ? " --expiry" : "",
  opts.answers ? ` --answers ${opts.answers}` : "",
  opts.selfDelivery ? ` --self-delivery ${opts.selfDelivery}` : "",
  opts.voteWithPrepare ? ` --vote-with-prepare ${opts.voteWithPrepare}` : "",
].join("");

function report(result: SimulationResult): void {
  const { violation } = result;
  if (!violation) return;
  process.stdout.write(
    `\nVIOLATION seed=${result.seed}: ${violation.invariant}: ${violation.detail}\n` +
      `faults: ${JSON.stringify(result.faults)}\n--- trace (${result.trace.length} lines) ---\n` +
      `${result.trace.join("\n")}\n--- end of trace; replay: npm run sim -- --seed ${result.seed} --trace${replayFlags}\n`,
  );
}

if (opts.seed !== undefined) {
  const seed = opts.seed;
  const result = await runSimulation({ seed, trace: values.trace, ...runOptions });
  if (values.trace && !result.violation) process.stdout.write(`${result.trace.join("\n")}\n`);
  process.stdout.write(
    `seed ${seed}: ${result.transactions} transactions (${result.committed} committed, ${result.sagas} sagas, ${result.compensated} compensated), ${result.steps} steps, ${result.violation ? "VIOLATION" : "ok"}\n`,
  );
  report(result);
  process.exit(result.violation ? 1 : 0);
}

const count = opts.seeds;
const start = opts.start;
const began = performance.now();
let transactions = 0;
let sagas = 0;
let compensated = 0;
let restarts = 0;
let wakeUps = 0;
let ownCommits = 0;
let withPrepare = { prepared: 0, committed: 0 };
// On a terminal a line redrawn on stderr; elsewhere a line on stdout every 2 s, as before.
const progress = createProgress({ plain: process.stdout, plainEveryMs: 2_000 });
for (let seed = start; seed < start + count; seed++) {
  const result = await runSimulation({ seed, ...runOptions });
  transactions += result.transactions;
  sagas += result.sagas;
  compensated += result.compensated;
  restarts += result.restarts;
  wakeUps += result.wakeUps;
  ownCommits += result.ownCommits;
  withPrepare = {
    prepared: withPrepare.prepared + result.votesWithPrepare.prepared,
    committed: withPrepare.committed + result.votesWithPrepare.committed,
  };
  if (result.violation) {
    // Replay with the trace on: the same seed gives the same run, so this also shows it reproduces.
    const replay = await runSimulation({ seed, trace: true, ...runOptions });
    const same = replay.violation?.invariant === result.violation.invariant;
    progress.end();
    report(replay.violation ? replay : result);
    process.stdout.write(same ? "(reproduced on replay)\n" : "WARNING: the replay did not reproduce it\n");
    process.exit(1);
  }
  const seconds = (performance.now() - began) / 1_000;
  const done = seed - start + 1;
  const line =
    `${done}/${count} seeds, ${(done / seconds).toFixed(0)} seeds/s, ` +
    `${Math.round((transactions / seconds) * 60)} transactions/minute`;
  if (done === count) progress.done(line);
  else progress.update(line);
}
const seconds = (performance.now() - began) / 1_000;
process.stdout.write(
  `no violations in ${count} seeds (${start}..${start + count - 1}), ${transactions} transactions ` +
    `(${sagas} sagas, ${compensated} compensated; ${restarts} restarts, ${wakeUps} wake-ups, ${ownCommits} commits with their decision, ` +
    `${withPrepare.prepared + withPrepare.committed} votes with their prepare, ${withPrepare.committed} of them committing at once) in ${seconds.toFixed(1)} s\n`,
);
