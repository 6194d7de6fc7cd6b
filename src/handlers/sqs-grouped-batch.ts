import type { SQSBatchResponse, SQSRecord } from "aws-lambda";
import type { z } from "zod";
import type { Log } from "../log.ts";
import type { SqsHandler } from "./sqs-batch.ts";

/**
 * An SQS-triggered handler that hands the messages of one batch to the use case
 * grouped by a key (the coordinator: by transaction), so that many votes for
 * one record become one write instead of a race of writes. Groups run in
 * parallel; a group that fails reports all of its records, and only they come
 * back. A body that can never parse is logged with its content and dropped.
 */
export function sqsGroupedBatchHandler<T extends z.ZodType>(
  schema: T,
  keyOf: (message: z.infer<T>) => string,
  handleGroup: (messages: z.infer<T>[]) => Promise<void>,
  log: Log,
): SqsHandler {
  return async (event) => {
    const groups = new Map<string, { messages: z.infer<T>[]; records: SQSRecord[] }>();
    for (const record of event.Records) {
      let json: unknown;
      try {
        json = JSON.parse(record.body);
      } catch {
        log.error("dropped a message that is not JSON", {
          messageId: record.messageId,
          body: record.body.slice(0, 500),
        });
        continue;
      }
      const parsed = schema.safeParse(json);
      if (!parsed.success) {
        log.error("dropped a message of unknown shape", {
          messageId: record.messageId,
          body: record.body.slice(0, 500),
          issues: parsed.error.issues.slice(0, 5),
        });
        continue;
      }
      const key = keyOf(parsed.data);
      const group = groups.get(key) ?? { messages: [], records: [] };
      group.messages.push(parsed.data);
      group.records.push(record);
      groups.set(key, group);
    }
    const failures: SQSBatchResponse["batchItemFailures"] = [];
    await Promise.all(
      [...groups.values()].map(async ({ messages, records }) => {
        try {
          await handleGroup(messages);
        } catch (err) {
          log.warn("messages failed; they return after their visibility timeout", {
            messageIds: records.map((r) => r.messageId),
            receiveCount: records[0]?.attributes.ApproximateReceiveCount,
            error: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
          });
          for (const r of records) failures.push({ itemIdentifier: r.messageId });
        }
      }),
    );
    return { batchItemFailures: failures };
  };
}
