/**
 * `/ready`'s DynamoDB check, with what the API is already granted: one eventually
 * consistent read of a key no record has (half a read unit; no table-management
 * permission such as DescribeTable needed).
 */
import { type DynamoDBDocumentClient, GetCommand } from "@aws-sdk/lib-dynamodb";
import type { Probe } from "../api/readiness.ts";

/** Transaction ids never hold `/` (TX_ID), so no record answers this key. */
const NO_RECORD = "/ready";

export const dynamoDbProbe =
  (doc: DynamoDBDocumentClient, table: string): Probe =>
  (abortSignal) =>
    doc.send(new GetCommand({ TableName: table, Key: { id: NO_RECORD }, ProjectionExpression: "id" }), {
      abortSignal,
    });
