import type { TestProject } from "vitest/node";
import { startEmulators } from "../../src/local/emulators/index.ts";

declare module "vitest" {
  export interface ProvidedContext {
    /** DynamoDB Local, in memory, shared by every test file: `http://127.0.0.1:PORT`. */
    dynamodbEndpoint: string;
    /** The SQS emulator, shared by every test file: `http://127.0.0.1:PORT`. */
    sqsEndpoint: string;
  }
}

/**
 * Vitest globalSetup: starts DynamoDB Local and the SQS emulator once for the whole run
 * (in memory, free ports on 127.0.0.1) and stops them afterwards. Tests read the endpoints
 * with `inject("dynamodbEndpoint")` / `inject("sqsEndpoint")` and isolate themselves by
 * giving their tables and queues a unique prefix.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const emulators = await startEmulators();
  project.provide("dynamodbEndpoint", emulators.dynamodbEndpoint);
  project.provide("sqsEndpoint", emulators.sqsEndpoint);
  return () => emulators.stop();
}
