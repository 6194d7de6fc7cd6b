/** Loggers for tests and the simulation: Powertools Loggers, so they go wherever a role's logger goes. */
import { Logger } from "@aws-lambda-powertools/logger";
import type { ConstructorOptions } from "@aws-lambda-powertools/logger/types";
import { contextKeys } from "../src/log.ts";

/** Logs nothing. */
export const silentLogger = (): Logger => new Logger({ logLevel: "SILENT" });

export interface LogEntry {
  readonly level: "debug" | "info" | "warn" | "error";
  readonly message: string;
  /** The first extra argument: the fields object, or the error. */
  readonly fields?: unknown;
  /** The logger's persistent keys when it logged, and its work's (a request's id, a transaction's id, a trace). */
  readonly keys: Readonly<Record<string, unknown>>;
}

/** Prints nothing and hands every entry to `onLog`, its children's too. */
export class RecordingLogger extends Logger {
  /** Keys added by `appendKeys`, which Powertools prints but does not hand out. */
  #temporary: Record<string, unknown> = {};

  constructor(
    private readonly onLog: (entry: LogEntry) => void,
    options: ConstructorOptions = {},
  ) {
    super({ ...options, logLevel: "DEBUG" });
  }

  private record(level: LogEntry["level"], input: unknown, extra: unknown[]): void {
    const message = typeof input === "string" ? input : String((input as { message?: unknown }).message);
    // As the root logger does (src/log.ts): the keys of the work running now (trace, transaction) on every line.
    const keys = { ...this.getPersistentLogAttributes(), ...this.#temporary, ...contextKeys() };
    this.onLog(extra.length > 0 ? { level, message, fields: extra[0], keys } : { level, message, keys });
  }

  override appendKeys(attributes: Record<string, unknown>): void {
    super.appendKeys(attributes);
    this.#temporary = { ...this.#temporary, ...attributes };
  }
  override removeKeys(keys: string[]): void {
    super.removeKeys(keys);
    for (const key of keys) delete this.#temporary[key];
  }
  override resetKeys(): void {
    super.resetKeys();
    this.#temporary = {};
  }

  override debug(input: Parameters<Logger["debug"]>[0], ...extra: unknown[]): void {
    this.record("debug", input, extra);
  }
  override info(input: Parameters<Logger["info"]>[0], ...extra: unknown[]): void {
    this.record("info", input, extra);
  }
  override warn(input: Parameters<Logger["warn"]>[0], ...extra: unknown[]): void {
    this.record("warn", input, extra);
  }
  override error(input: Parameters<Logger["error"]>[0], ...extra: unknown[]): void {
    this.record("error", input, extra);
  }

  protected override createLogger(options?: ConstructorOptions): Logger {
    return new RecordingLogger(this.onLog, options);
  }
}
