/**
 * The default workloads, one measurement per concurrency level: 2-party 2PC
 * transfers (n-party with `--participants`), 2-step sagas (`--protocol saga`)
 * or same-server transfers (`--one-phase`), each with its calls, capacity, CPU
 * and cost per committed transaction. First, unmeasured, a warm-up
 * (bench/warmup.ts).
 */
import {
  costPerMillion,
  LAMBDA_MEMORY_MB,
  STEP_FUNCTIONS_TWO_STEP_SAGA_TRANSITIONS,
  stepFunctionsStandardPerMillion,
} from "./cost-model.ts";
import {
  type Bench,
  drive,
  pct,
  progressDone,
  quiesce,
  type Request,
  round,
  sagaTransfer,
  say,
  seed,
  transfer,
} from "./driver.ts";
import { warmUp } from "./warmup.ts";

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

export async function runLevels(bench: Bench, perLevel: number) {
  const { opts, meter } = bench;
  const accounts = Array.from({ length: opts.accounts }, (_, i) => `a${i}`);
  const servers = Array.from({ length: opts.participants }, (_, i) => `bank-${i + 1}`);
  await seed(bench, opts.onePhase ? ["bank-1"] : servers, accounts);
  const half = Math.floor(opts.accounts / 2);
  // Transfers in flight take consecutive accounts: two meet on one only far apart (docs/performance.md).
  const make = (n: number): Request => {
    const a = `a${n % opts.accounts}`;
    if (opts.onePhase) {
      const b = `a${(n + half) % opts.accounts}`;
      return transfer([
        { server_id: "bank-1", account_id: a, operation: "transfer", amount: 1, to_account_id: b },
      ]);
    }
    if (opts.protocol === "saga") return sagaTransfer(a, a);
    return transfer(
      servers.map((server, i) => ({
        server_id: server,
        account_id: a,
        operation: i % 2 === 0 ? "withdraw" : "deposit",
        amount: 1,
      })),
    );
  };
  const workload = opts.onePhase
    ? "one participant (same-server transfer)"
    : opts.protocol === "saga"
      ? "2-step saga (withdraw on bank-1, then deposit on bank-2)"
      : opts.participants === 2
        ? "2-party cross-server 2PC transfer"
        : `${opts.participants}-party 2PC (one branch on each of ${opts.participants} servers)`;
  progressDone();
  say(bench, `${workload}, ${perLevel} per level, Lambda at ${LAMBDA_MEMORY_MB} MB`);
  if (opts.warmup > 0) say(bench, await warmUp(bench, Math.max(...opts.levels), make));

  for (const concurrency of opts.levels) {
    // Timed, with calls counted and capacity not asked for.
    await quiesce(bench);
    meter.reset();
    const cpu0 = process.cpuUsage();
    const outcome = await drive(bench, `concurrency ${concurrency}`, perLevel, concurrency, make);
    await quiesce(bench);
    const cpu = process.cpuUsage(cpu0);
    const m = meter.snapshot();
    const per = (n: number) => n / Math.max(1, outcome.committed);
    // Then capacity, on more of the same transactions at the same level, untimed.
    const units = await capacityPass(bench, concurrency, Math.min(perLevel, CAPACITY_SAMPLE), make);
    const callsPerTx = Object.fromEntries(Object.entries(m.calls).map(([k, v]) => [k, round(per(v), 3)]));
    const cpuMsPerTx = per((cpu.user + cpu.system) / 1000);
    const cost = costPerMillion({
      readUnits: units.read,
      writeUnits: units.write,
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
      capacityUnitsPerTx: { read: round(units.read, 3), write: round(units.write, 3) },
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
      bench,
      `concurrency ${String(concurrency).padStart(2)}: ${result.committedPerSecond.toFixed(1).padStart(6)} committed/s  ` +
        `p50 ${result.p50Ms.toFixed(0)} ms  p95 ${result.p95Ms.toFixed(0)} ms  p99 ${result.p99Ms.toFixed(0)} ms  ` +
        `(${outcome.committed} committed, ${notCommitted} not committed` +
        `${notCommitted ? ` ${JSON.stringify(outcome.reasons)}` : ""} in ${outcome.seconds.toFixed(1)} s)\n` +
        `    calls per committed tx: ${result.callsPerTxTotal.toFixed(1)} = ` +
        `${Object.entries(callsPerTx)
          .map(([k, v]) => `${k}=${v.toFixed(1)}`)
          .join(" ")}\n` +
        `    capacity units per committed tx (${units.committed} of ${units.sent} more, untimed): ` +
        `read ${result.capacityUnitsPerTx.read.toFixed(2)}, write ${result.capacityUnitsPerTx.write.toFixed(2)} = ` +
        `${Object.entries(units.byCall)
          .map(([k, v]) => `${k}=${v.toFixed(1)}`)
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
      bench,
      `Step Functions Standard, the same 2-step saga: USD ${stepFunctionsStandardPerMillion().toFixed(2)} per million ` +
        `for its ${STEP_FUNCTIONS_TWO_STEP_SAGA_TRANSITIONS} state transitions alone (no compensation taken), ` +
        "before the Lambda functions its tasks call",
    );
  }
}

/** Transactions a level's capacity is metered on (fewer when the level has fewer). */
const CAPACITY_SAMPLE = 100;

/**
 * Capacity units per committed transaction, on `count` more of the level's
 * transactions at its concurrency, metered apart from the timed ones: asking
 * DynamoDB Local for consumed capacity costs it about 8 % of its throughput
 * (committed/s at 8 went from 158 to 171 without it, at 64 from 174 to 189),
 * and the older bench, which did not ask, timed without that cost. The
 * transactions of a level are alike (no contention), so their units are too.
 */
async function capacityPass(bench: Bench, concurrency: number, count: number, make: (n: number) => Request) {
  const { meter } = bench;
  await quiesce(bench);
  meter.reset();
  meter.capacityOn = true;
  try {
    const { committed } = await drive(
      bench,
      `concurrency ${concurrency}, capacity units`,
      count,
      concurrency,
      make,
    );
    await quiesce(bench);
    const m = meter.snapshot();
    const per = (n: number) => n / Math.max(1, committed);
    return {
      read: per(m.readUnits),
      write: per(m.writeUnits),
      byCall: Object.fromEntries(Object.entries(m.unitsByCall).map(([k, v]) => [k, per(v)])),
      sent: count,
      committed,
    };
  } finally {
    meter.capacityOn = false;
  }
}
