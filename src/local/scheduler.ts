type Log = Pick<Console, "warn" | "error">;

export interface ScheduleOptions {
  /** Time between the start of one run and the start of the next (or the end of a longer run). */
  readonly rateMs: number;
  readonly run: () => Promise<unknown>;
  readonly log: Log;
  /** Run once at start instead of waiting one period first; defaults to false, like an EventBridge rate rule. */
  readonly runImmediately?: boolean;
}

export interface Schedule {
  /** No further runs start; resolves once the current run, if any, has finished. */
  stop(): Promise<void>;
}

/**
 * The local stand-in for an EventBridge `rate(...)` rule. Runs never overlap: a run that
 * takes longer than the period delays the next one instead of doubling up, which is
 * stricter than EventBridge but what a sweeper wants. A failing run is logged and the
 * schedule keeps going.
 */
export function startSchedule(options: ScheduleOptions): Schedule {
  const { rateMs, run, log } = options;
  if (!(rateMs > 0)) throw new RangeError(`rateMs must be > 0, got ${rateMs}`);
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let current: Promise<void> | undefined;

  const tick = (): void => {
    timer = undefined;
    if (stopped) return;
    const startedAt = Date.now();
    current = (async () => {
      try {
        await run();
      } catch (err) {
        log.error("scheduled run failed", { error: err });
      }
    })().finally(() => {
      current = undefined;
      const elapsed = Date.now() - startedAt;
      if (elapsed > rateMs)
        log.warn("scheduled run took longer than its period", { elapsedMs: elapsed, rateMs });
      schedule(Math.max(0, rateMs - elapsed));
    });
  };

  const schedule = (delayMs: number): void => {
    if (stopped) return;
    timer = setTimeout(tick, delayMs);
  };

  schedule(options.runImmediately ? 0 : rateMs);

  return {
    stop: async () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      await current;
    },
  };
}
