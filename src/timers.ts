import { setTimeout as wait } from "node:timers/promises";

/**
 * Resolves after `ms`, or at once when `signal` fires (a poller stopping in the
 * middle of a wait). The one wait on a real timer: code the simulation runs
 * takes a `sleep` parameter instead and is handed a simulated one.
 */
export const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  wait(ms, undefined, { signal }).catch((err: unknown) => {
    // Node rejects an aborted wait; stopping early is what the caller asked for.
    if (!signal?.aborted) throw err;
  });
