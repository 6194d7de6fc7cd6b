/**
 * The catalogue of transient AWS faults the injector (./fault-injection.ts)
 * can answer with, the operations a rule can name, and the shape of a rule.
 */

export const DYNAMODB_FAULTS = [
  /** 400 ThrottlingException: the SDK retries it with its throttling backoff. */
  "throttling",
  /** 400 ProvisionedThroughputExceededException: the table's capacity is exhausted. */
  "provisioned-throughput",
  /** 400 RequestLimitExceeded: the account's throughput limit. */
  "request-limit",
  /** 500 InternalServerError. */
  "internal-error",
  /** 503 ServiceUnavailable. */
  "service-unavailable",
  /** TransactWriteItems only: 400 TransactionCanceledException, reason TransactionConflict. */
  "transaction-conflict",
  /** TransactWriteItems only: 400 TransactionCanceledException, reason ThrottlingError. */
  "transaction-throttled",
] as const;
export type DynamoDbFault = (typeof DYNAMODB_FAULTS)[number];

export const SQS_FAULTS = [
  /** 500 InternalError. */
  "sqs-internal-error",
  /** 503 ServiceUnavailable. */
  "sqs-service-unavailable",
  /** 403 RequestThrottled (as the SQS model declares it): the SDK treats it as throttling. */
  "sqs-throttled",
] as const;
export type SqsFault = (typeof SQS_FAULTS)[number];

export type DynamoDbOperation =
  | "GetItem"
  | "PutItem"
  | "UpdateItem"
  | "DeleteItem"
  | "Query"
  | "Scan"
  | "BatchGetItem"
  | "BatchWriteItem"
  | "TransactGetItems"
  | "TransactWriteItems"
  | "CreateTable"
  | "DescribeTable"
  | "ListTables"
  | "UpdateTimeToLive";

export type SqsOperation =
  | "SendMessage"
  | "SendMessageBatch"
  | "ReceiveMessage"
  | "DeleteMessage"
  | "DeleteMessageBatch"
  | "ChangeMessageVisibility"
  | "GetQueueUrl"
  | "GetQueueAttributes"
  | "CreateQueue"
  | "SetQueueAttributes";

export type FaultService = "dynamodb" | "sqs";

/** One attempt the SDK is about to send, as a rule's `match` sees it. */
export interface FaultCall {
  readonly service: FaultService;
  readonly operation: string;
  /** The request's JSON body, parsed (both services speak a JSON protocol). */
  readonly input: unknown;
}

interface RuleOptions {
  /** Fire on the next N matching calls, then stop. Without it the rule fires until disarmed. */
  readonly times?: number;
  /** Fire on a matching call with this chance (0-1), drawn from the injector's seeded source. */
  readonly probability?: number;
  /** Narrows the rule further, e.g. to one transaction's items or messages. */
  readonly match?: (call: FaultCall) => boolean;
}

export type FaultRule =
  | (RuleOptions & {
      readonly service: "dynamodb";
      readonly operation?: DynamoDbOperation;
      readonly fault: DynamoDbFault;
    })
  | (RuleOptions & { readonly service: "sqs"; readonly operation?: SqsOperation; readonly fault: SqsFault });

/** A rule in force: how often it fired, and a way to lift it. */
export interface ArmedFault {
  readonly rule: FaultRule;
  readonly fired: number;
  /** Fires left, or undefined when unlimited. */
  readonly remaining: number | undefined;
  disarm(): void;
}
