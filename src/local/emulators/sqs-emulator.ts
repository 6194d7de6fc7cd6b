import { fileURLToPath } from "node:url";
import { type EmulatorProcess, startEmulatorProcess } from "./emulator-process.ts";

export interface SqsEmulatorOptions {
  /** Port on 127.0.0.1; 0 (the default) picks a free one. */
  readonly port?: number;
  /**
   * Region used for queue ARNs when a request's signature names none. Requests signed
   * for another region get ARNs in that region (fauxqs reads it from the signature).
   */
  readonly region?: string;
  /** Defaults to 60 s. */
  readonly startTimeoutMs?: number;
}

const CHILD_SCRIPT = fileURLToPath(new URL("./sqs-emulator-child.mjs", import.meta.url));

/**
 * Starts the fauxqs SQS emulator in a child Node process, listening on 127.0.0.1 only.
 * Queues live in memory: they are gone after stop.
 *
 * Queue URLs are `http://127.0.0.1:<port>/000000000000/<name>`; clients must set
 * `endpoint` explicitly (the SDK then ignores the URL's host).
 */
export function startSqsEmulator(options: SqsEmulatorOptions = {}): Promise<EmulatorProcess> {
  return startEmulatorProcess({
    name: "SQS emulator",
    // The child is plain JavaScript, so the current Node binary runs it without tsx.
    command: process.execPath,
    args: [CHILD_SCRIPT, String(options.port ?? 0), options.region ?? "us-east-1"],
    ...(options.startTimeoutMs === undefined ? {} : { startTimeoutMs: options.startTimeoutMs }),
  });
}
