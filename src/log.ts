import { Logger } from "@aws-lambda-powertools/logger";

/** The logging surface the use cases need; Powertools' Logger satisfies it. */
export type LogFields = Record<string, unknown> | Error;
export interface Log {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

/** Structured JSON logs at `level` (the configuration's `log.level`: CONCORD_LOG_LEVEL or POWERTOOLS_LOG_LEVEL). */
export function createLog(service: string, level = "INFO"): Log {
  const logger = new Logger({ serviceName: `concord-${service}`, logLevel: level as "INFO" });
  type Method = "debug" | "info" | "warn" | "error";
  const at = (method: Method) => (message: string, fields?: LogFields) =>
    fields === undefined ? logger[method](message) : logger[method](message, fields as never);
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

export const silentLog: Log = { debug() {}, info() {}, warn() {}, error() {} };
