/**
 * `GET /ready`: whether the stores the API needs answer. Each check is bounded
 * by a timeout, and one answer serves every probe for `cacheMs`, so that a
 * storm of probes costs one call per dependency per second.
 */
import type { Check } from "./response-schemas.ts";

/** Resolves when the dependency answers; rejects (or is aborted) when it does not. */
export type Probe = (signal: AbortSignal) => Promise<unknown>;

export interface ReadinessOptions {
  readonly probes: Readonly<Record<Check, Probe>>;
  readonly timeoutMs?: number;
  readonly cacheMs?: number;
  readonly clock?: () => number;
}

export type Readiness = () => Promise<readonly Check[]>;

/** The dependencies failing now (none when ready). */
export function createReadiness(options: ReadinessOptions): Readiness {
  const timeoutMs = options.timeoutMs ?? 1_000;
  const cacheMs = options.cacheMs ?? 1_000;
  const clock = options.clock ?? Date.now;
  let last: { at: number; failing: Promise<readonly Check[]> } | undefined;

  const answers = async (probe: Probe): Promise<boolean> => {
    const signal = AbortSignal.timeout(timeoutMs);
    // The timeout bounds the answer even where a client ignores the signal.
    const timedOut = new Promise<false>((resolve) => signal.addEventListener("abort", () => resolve(false)));
    return Promise.race([
      probe(signal).then(
        () => true,
        () => false,
      ),
      timedOut,
    ]);
  };

  const run = async (): Promise<readonly Check[]> => {
    const checks = Object.entries(options.probes) as [Check, Probe][];
    const results = await Promise.all(
      checks.map(async ([name, probe]) => [name, await answers(probe)] as const),
    );
    return results.filter(([, ok]) => !ok).map(([name]) => name);
  };

  return () => {
    const now = clock();
    if (!last || now - last.at >= cacheMs) last = { at: now, failing: run() };
    return last.failing;
  };
}
