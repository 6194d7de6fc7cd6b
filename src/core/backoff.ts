/** Capped exponential backoff: base, 2·base, 4·base, … never above cap. */
export function backoffMs(baseMs: number, attempt: number, capMs: number): number {
  const exp = Math.min(attempt, 30);
  return Math.min(capMs, baseMs * 2 ** exp);
}

/**
 * The backoff spread at random, for waits that several writers start at once
 * (lost races, lock waits, cancelled transactions), so they do not meet again.
 * `minShare` of it is always waited: 0 is full jitter, 0.5 equal jitter.
 * `random` (in [0, 1)) is a parameter: the core stays pure and tests pin it.
 */
export function jitteredBackoffMs(
  baseMs: number,
  attempt: number,
  capMs: number,
  random: () => number,
  minShare = 0,
): number {
  return Math.floor(backoffMs(baseMs, attempt, capMs) * (minShare + (1 - minShare) * random()));
}
