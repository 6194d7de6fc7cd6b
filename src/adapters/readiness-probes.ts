/**
 * The cheapest calls that prove DynamoDB and SQS answer, with what the API is
 * already granted: one eventually consistent read of a key no record has (half
 * a read unit, no table management permission needed) and one queue's URL.
 */

import { GetQueueUrlCommand } from "@aws-sdk/client-sqs";
import { GetCommand } from "@aws-sdk/lib-dynamodb";
import type { Probe } from "../api/readiness.ts";
import type { Check } from "../api/response-schemas.ts";
import type { AwsClients } from "./aws-clients.ts";

/** Transaction ids never hold `/` (TX_ID), so no record answers this key. */
const NO_RECORD = "/ready";

export const readinessProbes = (
  clients: Pick<AwsClients, "doc" | "sqs">,
  names: { readonly table: string; readonly queue: string },
): Record<Check, Probe> => ({
  dynamodb: (abortSignal) =>
    clients.doc.send(
      new GetCommand({ TableName: names.table, Key: { id: NO_RECORD }, ProjectionExpression: "id" }),
      { abortSignal },
    ),
  sqs: (abortSignal) => clients.sqs.send(new GetQueueUrlCommand({ QueueName: names.queue }), { abortSignal }),
});
