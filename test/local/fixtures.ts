import { randomBytes } from "node:crypto";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SQSClient } from "@aws-sdk/client-sqs";
import { inject } from "vitest";
import { sleep } from "../../src/timers.ts";

/** The emulators accept any credentials; the SDK only needs some to sign with. */
export const LOCAL_CREDENTIALS = { accessKeyId: "local", secretAccessKey: "local" } as const;
export const REGION = "us-east-1";

/** Clients for the emulators started by test/helpers/emulators.ts (or given endpoints). */
export function localClients(endpoints: { dynamodb?: string; sqs?: string } = {}): {
  dynamodb: DynamoDBClient;
  sqs: SQSClient;
} {
  const common = { region: REGION, credentials: LOCAL_CREDENTIALS, maxAttempts: 1 };
  return {
    dynamodb: new DynamoDBClient({ ...common, endpoint: endpoints.dynamodb ?? inject("dynamodbEndpoint") }),
    sqs: new SQSClient({ ...common, endpoint: endpoints.sqs ?? inject("sqsEndpoint") }),
  };
}

/** A table/queue prefix no other test uses, so test files can share the emulators. */
export function uniquePrefix(label: string): string {
  return `t${randomBytes(4).toString("hex")}-${label}`;
}

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 5_000,
  what = "condition",
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** True while any process of the group (or the single process, for a positive pid) exists. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ESRCH") return false;
    throw err;
  }
}
