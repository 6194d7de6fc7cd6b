import { Logger } from "@aws-lambda-powertools/logger";
import type { LogLevel } from "@aws-lambda-powertools/logger/types";

/**
 * The root logger of one process: Powertools' structured JSON at the configured
 * level (`config.log.level`: CONCORD_LOG_LEVEL or POWERTOOLS_LOG_LEVEL). Each
 * role logs through a child of it (`createChild`) named for the role, with the
 * keys it always carries (a participant's name) as persistent keys.
 */
export function createRootLogger(level = "INFO"): Logger {
  return new Logger({ serviceName: "concord", logLevel: level as LogLevel });
}
