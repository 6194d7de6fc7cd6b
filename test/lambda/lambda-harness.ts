/**
 * Runs the deployable bundles (what `npm run build` writes to dist/) the way Lambda
 * does: imported natively as ES modules with the environment the stack sets, and
 * invoked with Lambda-shaped events (SQS batches, function-URL requests, scheduled
 * events), over the emulators the test suite started.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import {
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
  ScheduledEvent,
  SQSBatchResponse,
  SQSEvent,
} from "aws-lambda";
import { type Bundle, bundleFunctions } from "../../scripts/bundle.ts";
import { toRecord } from "../../src/local/sqs-poller.ts";

export type SqsEntry = (event: SQSEvent) => Promise<SQSBatchResponse | undefined>;
export type UrlEntry = (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2>;
export type ScheduledEntry = (event: ScheduledEvent) => Promise<unknown>;

export interface Bundles {
  get(name: string): Bundle;
  /** Removes the bundles' folder. */
  remove(): void;
}

/**
 * Builds every bundle once, without source maps. Under node_modules/.cache, so the
 * test runner leaves the files alone and Node imports them as they are, as Lambda does.
 */
export async function buildBundles(): Promise<Bundles> {
  const cache = join(import.meta.dirname, "../../node_modules/.cache");
  mkdirSync(cache, { recursive: true });
  const outdir = mkdtempSync(join(cache, "concord-lambda-"));
  const built = new Map((await bundleFunctions({ outdir, sourcemap: false })).map((b) => [b.name, b]));
  return {
    get(name) {
      const bundle = built.get(name);
      if (!bundle) throw new Error(`no bundle ${name}`);
      return bundle;
    },
    remove: () => rmSync(outdir, { recursive: true, force: true }),
  };
}

/**
 * Imports a bundle as Lambda would: a fresh copy, so it reads `env` and builds its
 * wiring at import, like a cold start.
 */
export async function coldStart<T>(bundle: Bundle, env: NodeJS.ProcessEnv, label: string): Promise<T> {
  const copy = bundle.outfile.replace(/index\.mjs$/, `${label}.mjs`);
  copyFileSync(bundle.outfile, copy);
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    const module = (await import(/* @vite-ignore */ pathToFileURL(copy).href)) as { handler: T };
    return module.handler;
  } finally {
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
  }
}

/** A request as a Lambda function URL delivers it (payload format 2.0). */
export function urlEvent(
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): APIGatewayProxyEventV2 {
  const [rawPath = "/", rawQueryString = ""] = path.split("?");
  const domainPrefix = "abcdefghijklmnopqrstuvwxyz012345";
  const domainName = `${domainPrefix}.lambda-url.us-east-1.on.aws`;
  const query = Object.fromEntries(new URLSearchParams(rawQueryString));
  return {
    version: "2.0",
    routeKey: "$default",
    rawPath,
    rawQueryString,
    headers: { "content-type": "application/json", host: domainName, ...headers },
    ...(rawQueryString ? { queryStringParameters: query } : {}),
    requestContext: {
      accountId: "anonymous",
      apiId: domainPrefix,
      domainName,
      domainPrefix,
      http: { method, path: rawPath, protocol: "HTTP/1.1", sourceIp: "127.0.0.1", userAgent: "vitest" },
      requestId: crypto.randomUUID(),
      routeKey: "$default",
      stage: "$default",
      time: new Date().toUTCString(),
      timeEpoch: Date.now(),
    },
    ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
    isBase64Encoded: false,
  };
}

/** The event an EventBridge rule `rate(1 minute)` invokes its target with. */
export function scheduledEvent(): ScheduledEvent {
  return {
    version: "0",
    id: crypto.randomUUID(),
    "detail-type": "Scheduled Event",
    source: "aws.events",
    account: "123456789012",
    time: new Date().toISOString(),
    region: "us-east-1",
    resources: ["arn:aws:events:us-east-1:123456789012:rule/concord-sweeper"],
    detail: {},
  };
}

export interface Delivery {
  readonly received: number;
  readonly failed: readonly string[];
}

/**
 * One invocation of an SQS-triggered function, as Lambda's event source mapping does it:
 * receive up to `batchSize` messages, pass them as one event, delete those the response
 * does not report in batchItemFailures (none if the function throws).
 */
export async function deliver(
  sqs: SQSClient,
  queueUrl: string,
  entry: SqsEntry,
  batchSize = 10,
): Promise<Delivery> {
  const { Messages: messages = [] } = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: queueUrl,
      MaxNumberOfMessages: batchSize,
      WaitTimeSeconds: 0,
      MessageSystemAttributeNames: ["All"],
      MessageAttributeNames: ["All"],
    }),
  );
  if (messages.length === 0) return { received: 0, failed: [] };
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["QueueArn"] }),
  );
  const arn = Attributes?.QueueArn ?? "";
  const response = await entry({ Records: messages.map((m) => toRecord(m, arn, "us-east-1")) });
  const failed = (response?.batchItemFailures ?? []).map((f) => f.itemIdentifier);
  for (const message of messages) {
    if (!failed.includes(message.MessageId ?? "")) {
      await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle }));
    }
  }
  return { received: messages.length, failed };
}

/** A queue's URL by its logical name, from what `provision` returned; a missing one fails the test. */
export function queueUrlIn(urls: ReadonlyMap<string, string>, logical: string): string {
  const url = urls.get(logical);
  if (!url) throw new Error(`no queue ${logical}`);
  return url;
}
