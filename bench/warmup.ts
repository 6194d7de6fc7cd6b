/**
 * The bench's warm-up, before anything is measured: DynamoDB Local's JIT
 * compiler takes thousands of calls to reach its speed (committed/s at 32 rose
 * from 58 to 161 over the first 5,000 transfers of a run), and a level
 * measured cold reports the compiler, not concord.
 */
import { type Bench, drive, progressDone, type Request } from "./driver.ts";

/** Rounds of the warm-up: long enough to count hundreds of transactions at the usual levels. */
const WARMUP_ROUND_MS = 5_000;
/** A round that beats the best before it by less than this share has not warmed further. */
const WARMUP_GAIN = 0.05;
/** Rounds in a row without that gain, to call it warm: one alone may be a dip. */
const WARMUP_STALE_ROUNDS = 2;

/**
 * Transactions from `make`, at `concurrency`, in rounds of 5 s, until two
 * rounds in a row fail to beat the best round before them by 5 %, or
 * `--warmup` seconds have passed; nothing of it is measured. Returns what it
 * did, for the report.
 */
export async function warmUp(
  bench: Bench,
  concurrency: number,
  make: (n: number) => Request,
): Promise<string> {
  const limit = performance.now() + bench.opts.warmup * 1000;
  const rates: number[] = [];
  let best = 0;
  let stale = 0;
  let transactions = 0;
  const started = performance.now();
  while (performance.now() < limit && stale < WARMUP_STALE_ROUNDS) {
    const round = await drive(
      bench,
      `warming up at concurrency ${concurrency}, round ${rates.length + 1}` +
        (rates.length > 0 ? ` (the last: ${rates.at(-1)?.toFixed(1)}/s)` : ""),
      Number.POSITIVE_INFINITY,
      concurrency,
      make,
      Math.min(limit, performance.now() + WARMUP_ROUND_MS),
    );
    transactions += round.latencies.length;
    // A round cut to nothing by the limit counts as none.
    const rate = round.seconds > 0 ? round.latencies.length / round.seconds : 0;
    rates.push(rate);
    if (rates.length > 1 && rate <= best * (1 + WARMUP_GAIN)) stale += 1;
    else stale = 0;
    best = Math.max(best, rate);
  }
  progressDone();
  const seconds = (performance.now() - started) / 1000;
  return (
    `warmed up, not measured: ${transactions} transactions in ${seconds.toFixed(1)} s at concurrency ${concurrency}, ` +
    `${rates.length} round${rates.length === 1 ? "" : "s"} (${rates.map((r) => r.toFixed(1)).join(", ")}/s)` +
    (stale >= WARMUP_STALE_ROUNDS
      ? `, the last ${WARMUP_STALE_ROUNDS} no faster than the best before them by 5 %`
      : `, stopped at --warmup ${bench.opts.warmup}`)
  );
}
