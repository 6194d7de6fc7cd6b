import { Logger } from "@aws-lambda-powertools/logger";
import type { ConstructorOptions, LogLevel } from "@aws-lambda-powertools/logger/types";
import { currentLogKeys, currentTraceparent, traceIdOf } from "./trace-context.ts";

type Input = Parameters<Logger["info"]>[0];

/**
 * The keys of the work running now (trace-context.ts) that every line carries:
 * its trace (`traceparent`, and `traceId` to search by) and its log keys (the
 * transaction it is about, the Lambda invocation).
 */
export function contextKeys(): Record<string, unknown> {
  const traceparent = currentTraceparent();
  const keys = currentLogKeys();
  return traceparent === undefined ? keys : { ...keys, traceparent, traceId: traceIdOf(traceparent) };
}

/**
 * Powertools' Logger, whose every line also carries the keys of the work that
 * logs it (`contextKeys`), whichever role and child logger writes it: they are
 * persistent keys for as long as that work runs, held per async context, so
 * messages handled in parallel through one logger never mix them. A line's own
 * fields of the same name win.
 */
export class TracedLogger extends Logger {
  #traced(extra: unknown[]): unknown[] {
    const keys = contextKeys();
    return Object.keys(keys).length === 0 ? extra : [keys, ...extra];
  }
  override debug(input: Input, ...extra: unknown[]): void {
    super.debug(input, ...(this.#traced(extra) as []));
  }
  override info(input: Input, ...extra: unknown[]): void {
    super.info(input, ...(this.#traced(extra) as []));
  }
  override warn(input: Input, ...extra: unknown[]): void {
    super.warn(input, ...(this.#traced(extra) as []));
  }
  override error(input: Input, ...extra: unknown[]): void {
    super.error(input, ...(this.#traced(extra) as []));
  }
  protected override createLogger(options?: ConstructorOptions): Logger {
    return new TracedLogger(options);
  }
}

/**
 * The root logger of one process: Powertools' structured JSON at the configured
 * level (`config.log.level`: CONCORD_LOG_LEVEL or POWERTOOLS_LOG_LEVEL). Each
 * role logs through a child of it (`createChild`) named for the role, with the
 * keys it always carries (a participant's name) as persistent keys.
 */
export function createRootLogger(level = "INFO"): Logger {
  return new TracedLogger({ serviceName: "concord", logLevel: level as LogLevel });
}
