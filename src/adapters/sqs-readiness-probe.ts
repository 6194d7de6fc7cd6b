/** `/ready`'s SQS check: one queue's URL (granted with sending; no message moves). */
import { GetQueueUrlCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { Probe } from "../api/readiness.ts";

export const sqsProbe =
  (sqs: SQSClient, queue: string): Probe =>
  (abortSignal) =>
    sqs.send(new GetQueueUrlCommand({ QueueName: queue }), { abortSignal });
