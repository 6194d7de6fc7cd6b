/**
 * Where a running local stack (`npm start`, `concord emulators`) can be found: a
 * small JSON file in the data directory, so that `concord dlq`, `provision` and
 * `role` beside it need no AWS_ENDPOINT_URL_* of their own. A file whose process
 * is gone is ignored.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const STACK_FILE = "local-stack.json";

export interface LocalStack {
  readonly pid: number;
  readonly dynamodbEndpoint: string;
  readonly sqsEndpoint: string;
  readonly api?: string;
}

export const stackFilePath = (dataDir: string): string => join(dataDir, STACK_FILE);

/** Writes the file and removes it again when this process exits (if it is still ours). */
export function publishLocalStack(dataDir: string, stack: Omit<LocalStack, "pid">): string {
  const path = stackFilePath(dataDir);
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(path, `${JSON.stringify({ pid: process.pid, ...stack }, null, 2)}\n`);
  process.on("exit", () => {
    if (readLocalStack(dataDir, { anyPid: true })?.pid === process.pid) rmSync(path, { force: true });
  });
  return path;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it runs, as someone else.
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The stack described in `dataDir`, if its process still runs. */
export function readLocalStack(dataDir: string, options: { anyPid?: boolean } = {}): LocalStack | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(stackFilePath(dataDir), "utf8"));
  } catch {
    return undefined;
  }
  if (parsed === null || typeof parsed !== "object") return undefined;
  const s = parsed as Partial<LocalStack>;
  if (
    typeof s.pid !== "number" ||
    typeof s.dynamodbEndpoint !== "string" ||
    typeof s.sqsEndpoint !== "string"
  )
    return undefined;
  if (!options.anyPid && !alive(s.pid)) return undefined;
  return s as LocalStack;
}
