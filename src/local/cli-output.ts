/**
 * How the operator commands (`tx`, `dlq`) answer: aligned tables for people,
 * JSON for scripts, one line of error without a stack, and exit codes a
 * script can tell apart.
 */
import { ConcordError } from "../../packages/client/src/index.ts";

export const EXIT = {
  ok: 0,
  /** The API or the network refused, or something failed. */
  failed: 1,
  /** The command line or its input is wrong. */
  usage: 2,
  /** `tx submit` / `tx watch`: the transaction ended aborted. */
  aborted: 3,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** A mistake in what the operator gave (a file that is not JSON, an unknown queue): exit 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** Rows as columns padded to their widest cell; the header in capitals. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(header.map((h) => h.toUpperCase())), ...rows.map(line)].join("\n");
}

/** An ISO time as `2026-01-02 03:04:05.678`: the same instant, easier on the eye in a table. */
export const shortTime = (iso: string | undefined): string =>
  iso === undefined ? "" : iso.replace("T", " ").replace(/Z$/, "");

export const printJson = (value: unknown): void => {
  console.log(JSON.stringify(value, null, 2));
};

/** What a failure says to the operator, on stderr; the exit code it stands for. */
export function reportError(err: unknown, options: { json?: boolean; url?: string } = {}): ExitCode {
  if (err instanceof ConcordError) {
    if (options.json) {
      console.error(
        JSON.stringify({
          error: { code: err.code, message: err.message, status: err.status, details: err.details },
        }),
      );
      return EXIT.failed;
    }
    const http = err.status > 0 ? `, HTTP ${err.status}` : "";
    console.error(`error: ${err.message} (${err.code}${http})`);
    for (const line of detailLines(err.details)) console.error(`  ${line}`);
    if (err.code === "unreachable") {
      console.error(
        `  is concord running at ${options.url ?? "the URL"}? (npm start, or --url / CONCORD_URL)`,
      );
    }
    if (err.code === "unauthorized" || err.code === "forbidden") {
      console.error("  give a key with --key or CONCORD_API_KEY (abort and retry need an admin key)");
    }
    return EXIT.failed;
  }
  const message = err instanceof Error ? err.message : String(err);
  console.error(options.json ? JSON.stringify({ error: { message } }) : `error: ${message}`);
  return err instanceof UsageError ? EXIT.usage : EXIT.failed;
}

/** An API error's details as lines: validation issues as `path: message`, anything else as JSON. */
function detailLines(details: unknown): string[] {
  if (details === undefined) return [];
  if (Array.isArray(details)) {
    return details.map((d) =>
      typeof d === "object" && d !== null && "message" in d
        ? `${"path" in d && d.path ? `${String(d.path)}: ` : ""}${String(d.message)}`
        : JSON.stringify(d),
    );
  }
  return [JSON.stringify(details)];
}
