import { Logger } from "@aws-lambda-powertools/logger";
import type { ConstructorOptions, LogLevel } from "@aws-lambda-powertools/logger/types";
import { currentTraceparent, traceIdOf } from "./trace-context.ts";

type Input = Parameters<Logger["info"]>[0];

/**
 * Powertools' Logger, whose every line also names the trace of the work that
 * logs it (`traceparent`, and `traceId` to search by), whichever role and
 * child logger writes it.
 */
export class TracedLogger extends Logger {
  #traced(extra: unknown[]): unknown[] {
    const traceparent = currentTraceparent();
    return traceparent === undefined ? extra : [...extra, { traceparent, traceId: traceIdOf(traceparent) }];
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
