/**
 * `--hot`: contention. The same transfers on accounts no other transfer in
 * flight touches, among 3 servers x 5 accounts, and fanning into one account.
 */
import type { LockPolicy } from "../src/core/lock-policy.ts";
import {
  type Bench,
  drive,
  pct,
  progressDone,
  quiesce,
  type Request,
  round,
  say,
  seed,
  transfer,
} from "./driver.ts";
import { warmUp } from "./warmup.ts";

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
  /** Restarts per transfer (a transfer that died for contention and ran again), from its events. */
  readonly restartsPerTx: number;
  /** The most restarts one transfer had. */
  readonly mostRestarts: number;
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

export async function runHot(bench: Bench, count: number) {
  const { opts, config } = bench;
  const servers = config.bankServers;
  if (servers.length < 3) bench.fail("--hot needs at least 3 bank servers");
  const [s1, s2, s3] = servers as [string, string, string];
  const policy = config.participants.lockPolicy;
  const spread = Array.from({ length: 100 }, (_, i) => `u${i}`);
  const hot = Array.from({ length: 5 }, (_, i) => `h${i}`);
  const feeders = Array.from({ length: 50 }, (_, i) => `f${i}`);
  await seed(bench, [s1, s2, s3], [...spread, ...hot]);
  await seed(bench, [s1], ["sink"]);
  await seed(bench, [s2, s3], feeders);
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
  // Consecutive transfers are in flight together; 100 accounts per server keep them apart.
  const uncontended = (n: number) =>
    move(servers[n % 3] as string, `u${n % 100}`, servers[(n + 1) % 3] as string, `u${n % 100}`);
  const runs: [HotResult["run"], string, (n: number) => Request][] = [
    ["uncontended", `${count} transfers, each on accounts no other transfer in flight touches`, uncontended],
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
  say(bench, `contention, ${opts.clients} clients, lock policy ${policy}`);
  // On the uncontended transfers: warm for all three runs alike.
  if (opts.warmup > 0) say(bench, await warmUp(bench, opts.clients, uncontended));
  let uncontendedRate = 0;
  for (const [run, description, make] of runs) {
    await quiesce(bench);
    const outcome = await drive(bench, run, count, opts.clients, make);
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
      restartsPerTx: round(outcome.restarts / count, 3),
      mostRestarts: outcome.mostRestarts,
    };
    progressDone();
    if (opts.json) {
      console.log(JSON.stringify(result));
      continue;
    }
    say(
      bench,
      `${run.padEnd(12)} ${description}\n` +
        `    ${result.committed}/${count} committed (${(100 * result.committedShare).toFixed(1)}%)` +
        `${Object.keys(result.abortReasons).length ? `, not committed: ${JSON.stringify(result.abortReasons)}` : ""}\n` +
        `    ${result.committedPerSecond.toFixed(1)} committed/s (${(100 * result.ratioToUncontended).toFixed(0)}% of uncontended)  ` +
        `p50 ${result.p50Ms.toFixed(0)} ms  p95 ${result.p95Ms.toFixed(0)} ms  p99 ${result.p99Ms.toFixed(0)} ms\n` +
        `    ${result.restartsPerTx.toFixed(2)} restarts per transfer, at most ${result.mostRestarts}`,
    );
  }
}
