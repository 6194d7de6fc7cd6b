import type { Logger } from "@aws-lambda-powertools/logger";
import type { SQSBatchResponse, SQSRecord } from "aws-lambda";
import type { z } from "zod";
import { type LogKeys, withScope } from "../trace-context.ts";
import { describeError, parseRecord, traceOf } from "./parse-record.ts";
import type { SqsHandler } from "./sqs-batch.ts";

/**
 * An SQS-triggered handler that hands the messages of one batch to the use case
 * grouped by a key (the coordinator: by transaction), so that many votes for
 * one record become one write instead of a race of writes. Groups run in
 * parallel; a group that fails reports all of its records, and only they come
 * back. A body that can never parse is logged with its content and dropped.
 * A group is handled with `keysOf` its key as its log keys (the transaction's
 * id): every line logged while it is handled carries them.
 */
export function sqsGroupedBatchHandler<T extends z.ZodType>(
  schema: T,
  keyOf: (message: z.infer<T>) => string,
  handleGroup: (messages: z.infer<T>[]) => Promise<void>,
  log: Logger,
  keysOf: (key: string) => LogKeys = () => ({}),
): SqsHandler {
  return async (event) => {
    const groups = new Map<string, { messages: z.infer<T>[]; records: SQSRecord[] }>();
    for (const record of event.Records) {
      const message = parseRecord(schema, record, log);
      if (message === undefined) continue;
      const key = keyOf(message);
      const group = groups.get(key) ?? { messages: [], records: [] };
      group.messages.push(message);
      group.records.push(record);
      groups.set(key, group);
    }
    const failures: SQSBatchResponse["batchItemFailures"] = [];
    await Promise.all(
      [...groups].map(([key, { messages, records }]) => {
        // A group is about one transaction: its first message's trace stands for it.
        const [first] = records;
        return withScope(first && traceOf(first), keysOf(key), async () => {
          try {
            await handleGroup(messages);
          } catch (err) {
            log.warn("messages failed; they return after their visibility timeout", {
              messageIds: records.map((r) => r.messageId),
              receiveCount: records[0]?.attributes.ApproximateReceiveCount,
              error: describeError(err),
            });
            for (const r of records) failures.push({ itemIdentifier: r.messageId });
          }
        });
      }),
    );
    return { batchItemFailures: failures };
  };
}
