import { Agent } from "node:http";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SQSClient } from "@aws-sdk/client-sqs";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import type { Config } from "../config.ts";
import { type CallCounter, countCalls } from "./call-counter.ts";

export interface AwsClients {
  readonly dynamodb: DynamoDBClient;
  readonly doc: DynamoDBDocumentClient;
  readonly sqs: SQSClient;
}

/**
 * Something that wraps a client's HTTP request handler: the testkit's fault
 * injector (testkit/faults/fault-injection.ts) is one. Production passes none.
 */
export interface ClientFaults {
  install(
    client: { readonly config: { readonly requestHandler?: unknown } },
    service: "dynamodb" | "sqs",
  ): void;
}

export interface AwsClientOptions {
  /** Counts every API call by service and operation (benchmarks, tests). */
  readonly counter?: CallCounter;
  /** Answers chosen requests with AWS error responses (tests: throttling, 5xx, conflicts). */
  readonly faults?: ClientFaults;
}

/** Region and credentials from the configuration; without credentials there, the SDK's default chain. */
const clientBase = (config: Config) => ({
  region: config.region,
  maxAttempts: 4,
  ...(config.credentials ? { credentials: config.credentials } : {}),
});

/**
 * Endpoints are passed explicitly: the SQS emulator's queue URLs carry their own
 * host, and the same code must reach DynamoDB Local, LocalStack or AWS.
 */
export function createAwsClients(config: Config, options: AwsClientOptions = {}): AwsClients {
  const common = clientBase(config);
  const dynamodb = new DynamoDBClient({
    ...common,
    ...(config.endpoints.dynamodb ? { endpoint: config.endpoints.dynamodb } : {}),
  });
  const sqs = new SQSClient({
    ...common,
    ...(config.endpoints.sqs ? { endpoint: config.endpoints.sqs } : {}),
  });
  if (options.counter) {
    countCalls(dynamodb, "dynamodb", options.counter);
    countCalls(sqs, "sqs", options.counter);
  }
  if (options.faults) {
    options.faults.install(dynamodb, "dynamodb");
    options.faults.install(sqs, "sqs");
  }
  const doc = DynamoDBDocumentClient.from(dynamodb, {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
  });
  return { dynamodb, doc, sqs };
}

/**
 * An SQS client for the local runtime's pollers. Each long poll holds a socket
 * for up to 20 s; on the shared client they would exhaust its connection pool
 * and queue every send behind them.
 */
export function createPollingSqsClient(config: Config, options: AwsClientOptions = {}): SQSClient {
  const sqs = new SQSClient({
    ...clientBase(config),
    ...(config.endpoints.sqs ? { endpoint: config.endpoints.sqs } : {}),
    requestHandler: { httpAgent: new Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY }) },
  });
  if (options.counter) countCalls(sqs, "sqs", options.counter);
  if (options.faults) options.faults.install(sqs, "sqs");
  return sqs;
}

export function destroyAwsClients(clients: AwsClients): void {
  clients.doc.destroy();
  clients.dynamodb.destroy();
  clients.sqs.destroy();
}
