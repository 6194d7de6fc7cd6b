/**
 * Failed calls "lately", from counters that only grow: each read of the
 * counts is kept for a window, and what a participant failed lately is its
 * count now less its count a window ago. Before the page has watched for a
 * window, every failure since the process started counts. Pure: no DOM.
 */
export function recentFailures(windowMs: number) {
  const reads: { at: number; failed: ReadonlyMap<string, number> }[] = [];
  return (now: number, failed: ReadonlyMap<string, number>): Map<string, number> => {
    reads.push({ at: now, failed });
    // Keep one read at least a window old as the baseline; drop the older ones.
    while (reads.length > 2 && (reads[1]?.at ?? now) <= now - windowMs) reads.shift();
    const oldest = reads[0];
    const baseline = oldest && oldest.at <= now - windowMs ? oldest.failed : undefined;
    return new Map([...failed].map(([name, n]) => [name, n - (baseline?.get(name) ?? 0)]));
  };
}
