/** Capped exponential backoff: base, 2·base, 4·base, … never above cap. */
export function backoffMs(baseMs: number, attempt: number, capMs: number): number {
  const exp = Math.min(attempt, 30);
  return Math.min(capMs, baseMs * 2 ** exp);
}
