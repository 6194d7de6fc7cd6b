import { Logger } from "@aws-lambda-powertools/logger";
import type {
  ConstructorOptions,
  LogItemExtraInput,
  LogItemMessage,
  LogLevel,
} from "@aws-lambda-powertools/logger/types";
import { currentLogKeys, currentTraceparent, traceIdOf } from "./trace-context.ts";

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
  // Every level (critical and trace too) and every path (buffered or printed) passes here.
  protected override processLogItem(
    logLevel: number,
    input: LogItemMessage,
    extraInput: LogItemExtraInput,
  ): void {
    const keys = contextKeys();
    const traced = Object.keys(keys).length === 0 ? extraInput : ([keys, ...extraInput] as LogItemExtraInput);
    super.processLogItem(logLevel, input, traced);
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
