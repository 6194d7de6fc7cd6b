/**
 * Option parsers shared by concord's commands (commander's argParser): each
 * turns the text into a value or throws InvalidArgumentError, which commander
 * reports as `error: option '--x <n>' argument 'y' is invalid. <why>` with the
 * usage line.
 */
import { type Command, type CommanderError, InvalidArgumentError } from "commander";

/** An integer from `min` to `max`. */
export const intArg =
  (min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER) =>
  (text: string): number => {
    const n = Number(text);
    if (text.trim() === "" || !Number.isSafeInteger(n) || n < min || n > max) {
      const range =
        max < Number.MAX_SAFE_INTEGER
          ? ` from ${min} to ${max}`
          : min > Number.MIN_SAFE_INTEGER
            ? ` >= ${min}`
            : "";
      throw new InvalidArgumentError(`takes an integer${range}, got ${text}`);
    }
    return n;
  };

/** A share (probability) from 0 to 1. */
export const shareArg = (text: string): number => {
  const n = Number(text);
  if (text.trim() === "" || !(n >= 0 && n <= 1))
    throw new InvalidArgumentError(`takes a share from 0 to 1, got ${text}`);
  return n;
};

/** A duration like 2s, 500ms, 1m or a bare number of milliseconds; in milliseconds. */
export const durationArg = (text: string): number => {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!m) throw new InvalidArgumentError(`takes a duration like 2s or 500ms, got ${text}`);
  const n = Number(m[1]);
  return Math.round(m[2] === "s" ? n * 1000 : m[2] === "m" ? n * 60_000 : n);
};

/** A TCP port, 0 for any free one. */
export const portArg = (text: string): number => {
  const n = Number(text);
  if (text.trim() === "" || !Number.isInteger(n) || n < 0 || n > 65_535)
    throw new InvalidArgumentError("a port is an integer 0-65535");
  return n;
};

/** One of a fixed set of words. */
export const choiceArg =
  <const T extends string>(values: readonly T[]) =>
  (text: string): T => {
    if ((values as readonly string[]).includes(text)) return text as T;
    throw new InvalidArgumentError(`must be one of ${values.join(", ")}`);
  };

/**
 * Exits `code` on a usage error (commander's own is 1) and 0 after --help, for
 * commands whose exit codes say what happened (1: the check failed, 2: it could not run).
 */
export function usageErrorsExit(program: Command, code: number): Command {
  return program.showHelpAfterError("(--help lists the options)").exitOverride((err: CommanderError) => {
    process.exit(err.exitCode === 0 ? 0 : code);
  });
}
