import { startDynamoDbLocal } from "./dynamodb-local.ts";
import type { EmulatorProcess } from "./emulator-process.ts";
import { startSqsEmulator } from "./sqs-emulator.ts";

export { type DynamoDbLocalOptions, startDynamoDbLocal } from "./dynamodb-local.ts";
export { type EmulatorProcess, EmulatorStartError, stopAllEmulatorsSync } from "./emulator-process.ts";
export { type SqsEmulatorOptions, startSqsEmulator } from "./sqs-emulator.ts";

export interface EmulatorsOptions {
  /** Keep DynamoDB tables here across restarts; in memory when absent. SQS is always in memory. */
  readonly dataDir?: string;
  /** Fixed ports on 127.0.0.1; free ports when absent. */
  readonly dynamodbPort?: number;
  readonly sqsPort?: number;
}

export interface Emulators {
  readonly dynamodbEndpoint: string;
  readonly sqsEndpoint: string;
  /** Stops both; safe to call more than once. */
  stop(): Promise<void>;
}

/**
 * Starts DynamoDB Local and the SQS emulator in parallel, both on 127.0.0.1.
 * If either fails, the other is stopped before the error is rethrown.
 *
 * Both are also killed by a synchronous process "exit" hook. Signals are the
 * caller's job: a CLI should call `stop()` (or `stopAllEmulatorsSync()`) on SIGINT/SIGTERM.
 */
export async function startEmulators(options: EmulatorsOptions = {}): Promise<Emulators> {
  const started = await Promise.allSettled([
    startDynamoDbLocal({
      ...(options.dataDir === undefined ? {} : { dataDir: options.dataDir }),
      ...(options.dynamodbPort === undefined ? {} : { port: options.dynamodbPort }),
    }),
    startSqsEmulator(options.sqsPort === undefined ? {} : { port: options.sqsPort }),
  ]);
  const [dynamodb, sqs] = started;
  if (dynamodb.status === "rejected" || sqs.status === "rejected") {
    await Promise.all(
      started.flatMap((r) => (r.status === "fulfilled" ? [r.value.stop()] : ([] as Promise<void>[]))),
    );
    const failures = started.flatMap((r) => (r.status === "rejected" ? [r.reason as unknown] : []));
    throw failures.length === 1 ? failures[0] : new AggregateError(failures, "emulators failed to start");
  }
  const processes: EmulatorProcess[] = [dynamodb.value, sqs.value];
  return {
    dynamodbEndpoint: dynamodb.value.endpoint,
    sqsEndpoint: sqs.value.endpoint,
    stop: async () => {
      await Promise.all(processes.map((p) => p.stop()));
    },
  };
}
