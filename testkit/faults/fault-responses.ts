/**
 * What AWS answers for each fault: the status, headers and JSON body the SDK
 * deserializes into its own error classes, as in production.
 */
import { randomUUID } from "node:crypto";
import { Readable } from "node:stream";
import type { DynamoDbFault, FaultCall, SqsFault } from "./fault-catalogue.ts";

// The SDK's HTTP handler contract, structurally: the parts the injector touches.
export interface WireRequest {
  readonly headers: Record<string, string>;
  readonly body?: unknown;
}
export interface WireResponse {
  readonly statusCode: number;
  readonly reason?: string;
  readonly headers: Record<string, string>;
  readonly body: unknown;
}

/** Both services' JSON protocols name the operation in X-Amz-Target: `DynamoDB_20120810.PutItem`, `AmazonSQS.SendMessage`. */
export function operationOf(request: WireRequest): string {
  for (const [name, value] of Object.entries(request.headers)) {
    if (name.toLowerCase() === "x-amz-target") return value.slice(value.lastIndexOf(".") + 1);
  }
  return "unknown";
}

const utf8 = new TextDecoder();

export function parseBody(body: unknown): unknown {
  // The SDK's JSON bodies may be Uint8Array subclasses that warn when used as strings: decode the bytes.
  const text = typeof body === "string" ? body : body instanceof Uint8Array ? utf8.decode(body) : undefined;
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function jsonResponse(statusCode: number, body: unknown, headers: Record<string, string> = {}): WireResponse {
  const bytes = Buffer.from(JSON.stringify(body));
  return {
    statusCode,
    headers: {
      "content-type": "application/x-amz-json-1.0",
      "content-length": String(bytes.length),
      "x-amzn-requestid": randomUUID(),
      ...headers,
    },
    body: Readable.from([bytes]),
  };
}

const DYNAMODB_NS = "com.amazonaws.dynamodb.v20120810";

/** The bodies DynamoDB sends for these errors (awsJson1_0: the type in `__type`). */
export function dynamoDbResponse(fault: DynamoDbFault, call: FaultCall): WireResponse {
  const error = (status: number, type: string, message: string) =>
    jsonResponse(status, { __type: `${DYNAMODB_NS}#${type}`, message });
  switch (fault) {
    case "throttling":
      return error(400, "ThrottlingException", "Rate of requests exceeds the allowed throughput.");
    case "provisioned-throughput":
      return error(
        400,
        "ProvisionedThroughputExceededException",
        "The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.",
      );
    case "request-limit":
      return error(
        400,
        "RequestLimitExceeded",
        "Throughput exceeds the current throughput limit for your account. Please contact AWS Support at https://aws.amazon.com/support request a limit increase",
      );
    case "internal-error":
      return error(500, "InternalServerError", "Internal server error");
    case "service-unavailable":
      return jsonResponse(503, {
        __type: "com.amazon.coral.availability#ServiceUnavailableException",
        message: "Service unavailable",
      });
    case "transaction-conflict":
      return cancellation(call, "TransactionConflict", "Transaction is ongoing for the item");
    case "transaction-throttled":
      return cancellation(
        call,
        "ThrottlingError",
        "Throughput exceeds the current capacity for one or more global secondary indexes. DynamoDB is automatically scaling your index so please try again shortly.",
      );
  }
}

/** DynamoDB gives one reason per item, in order; here the first item is the one that met trouble. */
function cancellation(call: FaultCall, code: string, message: string): WireResponse {
  const items = (call.input as { TransactItems?: unknown[] } | undefined)?.TransactItems?.length ?? 1;
  const reasons = Array.from({ length: Math.max(1, items) }, (_, i) =>
    i === 0 ? { Code: code, Message: message } : { Code: "None" },
  );
  return jsonResponse(400, {
    __type: `${DYNAMODB_NS}#TransactionCanceledException`,
    Message: `Transaction cancelled, please refer cancellation reasons for specific reasons [${reasons.map((r) => r.Code).join(", ")}]`,
    CancellationReasons: reasons,
  });
}

/**
 * SQS speaks awsJson1_0 with query compatibility: the JSON type in `__type`
 * and the legacy code in `x-amzn-query-error: <code>;<Sender|Receiver>`.
 */
export function sqsResponse(fault: SqsFault): WireResponse {
  const error = (status: number, code: string, message: string, party: "Sender" | "Receiver") =>
    jsonResponse(
      status,
      { __type: `com.amazonaws.sqs#${code}`, message },
      { "x-amzn-query-error": `${code};${party}` },
    );
  switch (fault) {
    case "sqs-internal-error":
      return error(500, "InternalError", "We encountered an internal error. Please try again.", "Receiver");
    case "sqs-service-unavailable":
      return error(
        503,
        "ServiceUnavailable",
        "The request has failed due to a temporary failure of the server.",
        "Receiver",
      );
    case "sqs-throttled":
      return error(403, "RequestThrottled", "Request is throttled.", "Sender");
  }
}
