import {
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  type Message,
  type MessageAttributeValue,
  ReceiveMessageCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import type {
  SQSBatchItemFailure,
  SQSBatchResponse,
  SQSEvent,
  SQSMessageAttributes,
  SQSRecord,
} from "aws-lambda";
import { backoffMs } from "../core/backoff.ts";
import { sleep } from "../timers.ts";

type Log = Pick<Console, "info" | "warn" | "error">;

/**
 * A function in the shape of an SQS-triggered Lambda handler with partial batch responses.
 * `void` as in aws-lambda's `SQSHandler`, so that a handler returning nothing fits.
 */
// biome-ignore lint/suspicious/noConfusingVoidType: mirrors aws-lambda's SQSHandler return type.
export type SqsBatchHandler = (event: SQSEvent) => Promise<SQSBatchResponse | void>;

export interface SqsPollerOptions {
  readonly sqs: SQSClient;
  readonly queueUrl: string;
  readonly handler: SqsBatchHandler;
  /** Messages per handler call, 1 to 10 (one ReceiveMessage). */
  readonly batchSize: number;
  /** Long-poll wait, 0 to 20 s; defaults to 20, as Lambda's pollers do. */
  readonly waitTimeSeconds?: number;
  /** Parallel polling loops, each running one batch at a time; defaults to 2. */
  readonly concurrency?: number;
  /** `eventSourceARN` of the records; read from the queue once when absent. */
  readonly queueArn?: string;
  /** How long stop() waits for running batches; defaults to 30 s. */
  readonly stopTimeoutMs?: number;
  readonly log: Log;
  /** Called when the handler throws (the whole batch will be redelivered). */
  readonly onError?: (error: unknown, event: SQSEvent) => void;
}

export interface SqsPoller {
  /**
   * Stops polling at once (open long polls are aborted) and waits, bounded by
   * `stopTimeoutMs`, for batches already handed to the handler.
   *
   * An aborted long poll may still take a message on the server side (fauxqs, like SQS,
   * does not notice the dropped connection); that message reappears after its
   * visibility timeout.
   */
  stop(): Promise<void>;
}

const DEFAULT_WAIT_TIME_SECONDS = 20;
const DEFAULT_CONCURRENCY = 2;
const DEFAULT_STOP_TIMEOUT_MS = 30_000;
const RETRY_BASE_MS = 100;
const RETRY_CAP_MS = 5_000;
/** An empty receive faster than this is treated as "no long poll" and followed by a pause. */
const MIN_EMPTY_RECEIVE_MS = 100;

/**
 * Polls a queue and calls the handler the way Lambda's SQS event source mapping does:
 * - a batch is a real `SQSEvent`;
 * - messages not named in `batchItemFailures` are deleted; the failed ones reappear after
 *   their visibility timeout;
 * - if the handler throws, or names a message that is not in the batch, nothing is
 *   deleted and the whole batch reappears;
 * - moving a message to the dead-letter queue is the queue's job (its RedrivePolicy).
 *
 * Receive errors are logged and retried with capped exponential backoff.
 */
export function startSqsPoller(options: SqsPollerOptions): SqsPoller {
  const { sqs, queueUrl, log, batchSize } = options;
  const waitTimeSeconds = options.waitTimeSeconds ?? DEFAULT_WAIT_TIME_SECONDS;
  // SQS's own limits, checked here so a bad trigger fails at start, not on every receive.
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10) {
    throw new RangeError(`batchSize must be 1 to 10, got ${batchSize}`);
  }
  if (!Number.isInteger(waitTimeSeconds) || waitTimeSeconds < 0 || waitTimeSeconds > 20) {
    throw new RangeError(`waitTimeSeconds must be 0 to 20, got ${waitTimeSeconds}`);
  }
  const abort = new AbortController();
  let eventSource: Promise<{ arn: string; region: string }> | undefined;

  // Memoized; a failure is not cached, so the next batch asks again.
  const source = (): Promise<{ arn: string; region: string }> => {
    eventSource ??= (async () => ({
      arn: options.queueArn ?? (await queueArn(sqs, queueUrl)),
      region: await sqs.config.region(),
    }))().catch((err: unknown) => {
      eventSource = undefined;
      throw err;
    });
    return eventSource;
  };

  const handleBatch = async (messages: Message[]): Promise<void> => {
    const { arn, region } = await source();
    const event: SQSEvent = { Records: messages.map((m) => toRecord(m, arn, region)) };
    let failures: SQSBatchItemFailure[];
    try {
      const response = await options.handler(event);
      // Like Lambda, a response without batchItemFailures means the whole batch succeeded.
      failures = response ? (response.batchItemFailures ?? []) : [];
    } catch (err) {
      log.error("sqs handler failed; the whole batch will be redelivered", {
        queueUrl,
        messages: messages.length,
        error: err,
      });
      options.onError?.(err, event);
      return;
    }
    const failed = new Set(failures.map((f) => f.itemIdentifier));
    const ids = new Set(event.Records.map((r) => r.messageId));
    const unknown = [...failed].filter((id) => !ids.has(id));
    if (unknown.length > 0) {
      // Lambda's rule: an identifier that is empty or not in the batch fails the whole batch.
      log.error("batchItemFailures names messages not in the batch; the whole batch will be redelivered", {
        queueUrl,
        unknown,
      });
      return;
    }
    const done = event.Records.filter((r) => !failed.has(r.messageId));
    if (done.length > 0) await deleteMessages(done);
  };

  const deleteMessages = async (records: SQSRecord[]): Promise<void> => {
    try {
      const result = await sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: records.map((r, i) => ({ Id: String(i), ReceiptHandle: r.receiptHandle })),
        }),
      );
      if (result.Failed && result.Failed.length > 0) {
        log.warn("some processed messages could not be deleted and will be redelivered", {
          queueUrl,
          failed: result.Failed,
        });
      }
    } catch (err) {
      // At-least-once: the messages come back and the handler must be idempotent anyway.
      log.warn("deleting processed messages failed; they will be redelivered", { queueUrl, error: err });
    }
  };

  const loop = async (): Promise<void> => {
    let failures = 0;
    while (!abort.signal.aborted) {
      const startedAt = Date.now();
      let messages: Message[];
      try {
        const out = await sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: queueUrl,
            MaxNumberOfMessages: batchSize,
            WaitTimeSeconds: waitTimeSeconds,
            MessageSystemAttributeNames: ["All"],
            MessageAttributeNames: ["All"],
          }),
          { abortSignal: abort.signal },
        );
        messages = out.Messages ?? [];
        failures = 0;
      } catch (err) {
        if (abort.signal.aborted) return;
        failures += 1;
        const delay = backoffMs(RETRY_BASE_MS, failures - 1, RETRY_CAP_MS);
        log.warn("sqs receive failed; retrying", {
          queueUrl,
          attempt: failures,
          retryInMs: delay,
          error: err,
        });
        await sleep(delay, abort.signal);
        continue;
      }
      if (messages.length === 0) {
        // With no long poll (or an emulator that returns early) this would spin.
        if (Date.now() - startedAt < MIN_EMPTY_RECEIVE_MS) await sleep(MIN_EMPTY_RECEIVE_MS, abort.signal);
        continue;
      }
      try {
        await handleBatch(messages);
      } catch (err) {
        // Only reading the queue ARN can get here; the batch reappears after its visibility timeout.
        log.error("sqs batch could not be dispatched", { queueUrl, error: err });
        await sleep(RETRY_CAP_MS, abort.signal);
      }
    }
  };

  const loops = Array.from({ length: Math.max(1, options.concurrency ?? DEFAULT_CONCURRENCY) }, () => loop());
  const all = Promise.all(loops).then(() => undefined);

  let stopping: Promise<void> | undefined;
  return {
    stop: () => {
      stopping ??= (async () => {
        abort.abort();
        const timeoutMs = options.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS;
        let timer: NodeJS.Timeout | undefined;
        const timedOut = new Promise<"timeout">((resolve) => {
          timer = setTimeout(() => resolve("timeout"), timeoutMs);
        });
        const outcome = await Promise.race([all, timedOut]);
        clearTimeout(timer);
        if (outcome === "timeout") {
          log.warn("sqs poller stopped with a batch still running", { queueUrl, waitedMs: timeoutMs });
        }
      })();
      return stopping;
    },
  };
}

async function queueArn(sqs: SQSClient, queueUrl: string): Promise<string> {
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["QueueArn"] }),
  );
  if (!Attributes?.QueueArn) throw new Error(`queue ${queueUrl} reported no QueueArn`);
  return Attributes.QueueArn;
}

/** Maps an SQS API message to the record Lambda would deliver for it. */
export function toRecord(message: Message, eventSourceARN: string, awsRegion: string): SQSRecord {
  const attrs = message.Attributes ?? {};
  return {
    messageId: message.MessageId ?? "",
    receiptHandle: message.ReceiptHandle ?? "",
    body: message.Body ?? "",
    attributes: {
      ...attrs,
      ApproximateReceiveCount: attrs.ApproximateReceiveCount ?? "1",
      SentTimestamp: attrs.SentTimestamp ?? String(Date.now()),
      SenderId: attrs.SenderId ?? "",
      ApproximateFirstReceiveTimestamp: attrs.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
    },
    messageAttributes: toLambdaAttributes(message.MessageAttributes),
    md5OfBody: message.MD5OfBody ?? "",
    ...(message.MD5OfMessageAttributes ? { md5OfMessageAttributes: message.MD5OfMessageAttributes } : {}),
    eventSource: "aws:sqs",
    eventSourceARN,
    awsRegion,
  };
}

/** Lambda spells attribute fields in camelCase and carries binary values as base64. */
function toLambdaAttributes(
  attributes: Record<string, MessageAttributeValue> | undefined,
): SQSMessageAttributes {
  const out: SQSMessageAttributes = {};
  for (const [name, value] of Object.entries(attributes ?? {})) {
    out[name] = {
      dataType: value.DataType ?? "String",
      ...(value.StringValue === undefined ? {} : { stringValue: value.StringValue }),
      ...(value.BinaryValue === undefined
        ? {}
        : { binaryValue: Buffer.from(value.BinaryValue).toString("base64") }),
      stringListValues: value.StringListValues ?? [],
      binaryListValues: (value.BinaryListValues ?? []).map((b) => Buffer.from(b).toString("base64")),
    };
  }
  return out;
}
