import { BatchProcessor, EventType, processPartialResponse } from "@aws-lambda-powertools/batch";
import type { Logger } from "@aws-lambda-powertools/logger";
import type { SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import type { z } from "zod";
import { type LogKeys, withScope } from "../trace-context.ts";
import { describeError, parseRecord, traceOf } from "./parse-record.ts";

export type SqsHandler = (event: SQSEvent) => Promise<SQSBatchResponse>;

/**
 * An SQS-triggered handler: parse each record, handle it, report the failures
 * (batchItemFailures) so only they come back. Records are handled in parallel.
 * A body that can never parse is logged with its content and dropped: retrying
 * it could not succeed.
 *
 * Each message is handled under the trace it came with and with `keysOf` its
 * log keys (its transaction's id): every line logged while it is handled, by
 * whatever code and logger under it, carries them.
 */
export function sqsBatchHandler<T extends z.ZodType>(
  schema: T,
  handle: (message: z.infer<T>) => Promise<void>,
  log: Logger,
  keysOf: (message: z.infer<T>) => LogKeys = () => ({}),
): SqsHandler {
  return async (event) => {
    // One processor per invocation: it holds the state of the batch it is processing.
    const processor = new BatchProcessor(EventType.SQS);
    return processPartialResponse(
      event,
      async (record: SQSRecord) => {
        const message = parseRecord(schema, record, log);
        if (message === undefined) return;
        // The handler's lines, and this one's when it fails, under the message's trace and keys.
        await withScope(traceOf(record), keysOf(message), async () => {
          try {
            await handle(message);
          } catch (err) {
            log.warn("message failed; it returns after its visibility timeout", {
              messageId: record.messageId,
              receiveCount: record.attributes.ApproximateReceiveCount,
              error: describeError(err),
            });
            throw err;
          }
        });
      },
      processor,
      { throwOnFullBatchFailure: false },
    );
  };
}
