import type { Logger } from "@aws-lambda-powertools/logger";
import type { SQSRecord } from "aws-lambda";
import type { z } from "zod";
import { parseTraceparent, TRACEPARENT_ATTRIBUTE } from "../trace-context.ts";

/**
 * The record's message, or undefined when its body can never parse: such a
 * message is logged with its content and dropped, since retrying it could not
 * succeed.
 */
export function parseRecord<T extends z.ZodType>(
  schema: T,
  record: SQSRecord,
  log: Logger,
): z.infer<T> | undefined {
  let json: unknown;
  try {
    json = JSON.parse(record.body);
  } catch {
    log.error("dropped a message that is not JSON", {
      messageId: record.messageId,
      body: record.body.slice(0, 500),
    });
    return undefined;
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    log.error("dropped a message of unknown shape", {
      messageId: record.messageId,
      body: record.body.slice(0, 500),
      issues: parsed.error.issues.slice(0, 5),
    });
    return undefined;
  }
  return parsed.data;
}

export const describeError = (err: unknown): string =>
  err instanceof Error ? `${err.name}: ${err.message}` : String(err);

/** The trace a record's sender was in (its `traceparent` attribute), if it is a sane one. */
export const traceOf = (record: SQSRecord): string | undefined =>
  parseTraceparent(record.messageAttributes?.[TRACEPARENT_ATTRIBUTE]?.stringValue);
