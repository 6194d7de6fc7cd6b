/**
 * Runs the deterministic simulation over many seeds, or replays one.
 *   npm run sim -- --seeds 10000 --start 1
 *   npm run sim -- --seed 4242 --trace
 *   npm run sim -- --seeds 2000 --saga-share 0.5 --mutant no-compensation-barrier
 *   npm run sim -- --seeds 500 --mutant late-prepare-votes-no
 *   npm run sim -- --seeds 1000 --no-http     (bank participants only, as before HTTP participants were simulated)
 *   npm run sim -- --seeds 200 --expiry --mutant expires-at-write
 * Exits non-zero on the first violation, after printing its seed, the invariant and the trace.
 */
import { parseArgs } from "node:util";
import { LOCK_POLICIES, type LockPolicy } from "../core/lock-policy.ts";
import {
  DEFAULT_SAGA_SHARE,
  HTTP_MUTANTS,
  MUTANTS,
  type Mutant,
  runSimulation,
  type SimulationOptions,
  type SimulationResult,
} from "./simulation.ts";

const { values } = parseArgs({
  options: {
    seeds: { type: "string", default: "1000" },
    start: { type: "string", default: "1" },
    seed: { type: "string" },
    trace: { type: "boolean", default: false },
    mutant: { type: "string" },
    "saga-share": { type: "string", default: String(DEFAULT_SAGA_SHARE) },
    "lock-policy": { type: "string" },
    "no-http": { type: "boolean", default: false },
    /** The barrier-expiry clock in every seed (else in one seed in four). */
    expiry: { type: "boolean", default: false },
  },
});

function int(name: string, value: string | undefined): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) {
    process.stderr.write(`--${name} must be an integer, got ${value}\n`);
    process.exit(2);
  }
  return n;
}

const mutants = [...Object.keys(MUTANTS), ...HTTP_MUTANTS];
if (values.mutant !== undefined && !mutants.includes(values.mutant)) {
  process.stderr.write(`--mutant must be one of ${mutants.join(", ")}\n`);
  process.exit(2);
}
const mutant = values.mutant as Mutant | undefined;
const sagaShare = Number(values["saga-share"]);
if (!(sagaShare >= 0 && sagaShare <= 1)) {
  process.stderr.write(`--saga-share must be between 0 and 1, got ${values["saga-share"]}\n`);
  process.exit(2);
}
const lockPolicy = values["lock-policy"] as LockPolicy | undefined;
if (lockPolicy !== undefined && !LOCK_POLICIES.includes(lockPolicy)) {
  process.stderr.write(`--lock-policy must be one of ${LOCK_POLICIES.join(", ")}\n`);
  process.exit(2);
}
/** Everything but the seed and the trace: what a replay must pass again. */
const runOptions: Omit<SimulationOptions, "seed"> = {
  sagaShare,
  ...(mutant ? { mutant } : {}),
  ...(lockPolicy ? { lockPolicy } : {}),
  ...(values["no-http"] ? { httpParticipants: false } : {}),
  ...(values.expiry ? { expiry: true } : {}),
};
const replayFlags = [
  sagaShare !== DEFAULT_SAGA_SHARE ? ` --saga-share ${sagaShare}` : "",
  lockPolicy ? ` --lock-policy ${lockPolicy}` : "",
  mutant ? ` --mutant ${mutant}` : "",
  values["no-http"] ? " --no-http" : "",
  values.expiry ? " --expiry" : "",
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

if (values.seed !== undefined) {
  const seed = int("seed", values.seed);
  const result = await runSimulation({ seed, trace: values.trace, ...runOptions });
  if (values.trace && !result.violation) process.stdout.write(`${result.trace.join("\n")}\n`);
  process.stdout.write(
    `seed ${seed}: ${result.transactions} transactions (${result.committed} committed, ${result.sagas} sagas, ${result.compensated} compensated), ${result.steps} steps, ${result.violation ? "VIOLATION" : "ok"}\n`,
  );
  report(result);
  process.exit(result.violation ? 1 : 0);
}

const count = int("seeds", values.seeds);
const start = int("start", values.start);
const began = performance.now();
let transactions = 0;
let sagas = 0;
let compensated = 0;
let lastReport = began;
for (let seed = start; seed < start + count; seed++) {
  const result = await runSimulation({ seed, ...runOptions });
  transactions += result.transactions;
  sagas += result.sagas;
  compensated += result.compensated;
  if (result.violation) {
    // Replay with the trace on: the same seed gives the same run, so this also shows it reproduces.
    const replay = await runSimulation({ seed, trace: true, ...runOptions });
    const same = replay.violation?.invariant === result.violation.invariant;
    report(replay.violation ? replay : result);
    process.stdout.write(same ? "(reproduced on replay)\n" : "WARNING: the replay did not reproduce it\n");
    process.exit(1);
  }
  const t = performance.now();
  if (t - lastReport > 2_000 || seed === start + count - 1) {
    lastReport = t;
    const seconds = (t - began) / 1_000;
    const done = seed - start + 1;
    process.stdout.write(
      `${done}/${count} seeds, ${(done / seconds).toFixed(0)} seeds/s, ${Math.round((transactions / seconds) * 60)} transactions/minute\n`,
    );
  }
}
const seconds = (performance.now() - began) / 1_000;
process.stdout.write(
  `no violations in ${count} seeds (${start}..${start + count - 1}), ${transactions} transactions ` +
    `(${sagas} sagas, ${compensated} compensated) in ${seconds.toFixed(1)} s\n`,
);
