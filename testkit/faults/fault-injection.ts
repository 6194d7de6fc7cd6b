/**
 * Transient AWS faults on demand. DynamoDB Local and the SQS emulator never
 * throttle, conflict or fail, so tests ask for it here. The injector sits in
 * the client's HTTP request handler, below signing, retries and
 * deserialization: the SDK receives the status, headers and JSON body AWS would
 * send and handles them with its own error classes and retry strategy, exactly
 * as in production. Every attempt the SDK makes is one call here, so a rule
 * with `times: 2` costs one request two of its retries.
 */
import { randomUUID } from "node:crypto";
import { Readable } from "node:stream";

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

export interface FaultInjectorOptions {
  /** Seed of the source `probability` draws from; the same seed and calls give the same faults. */
  readonly seed?: number;
}

// The SDK's HTTP handler contract, structurally: the parts the injector touches.
interface WireRequest {
  readonly headers: Record<string, string>;
  readonly body?: unknown;
}
interface WireResponse {
  readonly statusCode: number;
  readonly reason?: string;
  readonly headers: Record<string, string>;
  readonly body: unknown;
}
interface RequestHandlerLike {
  handle(request: WireRequest, options?: unknown): Promise<{ response: WireResponse }>;
}

const TRANSACT_ONLY: ReadonlySet<DynamoDbFault> = new Set(["transaction-conflict", "transaction-throttled"]);
const DEFAULT_SEED = 0x5eed;

/** mulberry32: tiny, fast, and good enough to pick which calls fail. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Armed implements ArmedFault {
  fired = 0;
  active = true;
  constructor(readonly rule: FaultRule) {}

  get remaining(): number | undefined {
    return this.rule.times === undefined ? undefined : Math.max(0, this.rule.times - this.fired);
  }

  disarm(): void {
    this.active = false;
  }
}

/**
 * Holds the rules and counts what it injected. One injector serves any number
 * of clients: install it on each (createAwsClients does, given `faults`).
 */
export class FaultInjector {
  private readonly rules: Armed[] = [];
  private readonly random: () => number;
  private readonly counts = new Map<string, number>();
  private readonly installed = new WeakSet<object>();

  constructor(options: FaultInjectorOptions = {}) {
    this.random = seededRandom(options.seed ?? DEFAULT_SEED);
  }

  /** Adds a rule; rules are tried in the order armed and the first that fires wins. */
  arm(rule: FaultRule): ArmedFault {
    if (rule.times !== undefined && (!Number.isInteger(rule.times) || rule.times < 0)) {
      throw new RangeError(`times must be a non-negative integer, got ${rule.times}`);
    }
    if (rule.probability !== undefined && !(rule.probability >= 0 && rule.probability <= 1)) {
      throw new RangeError(`probability must be between 0 and 1, got ${rule.probability}`);
    }
    if (
      rule.service === "dynamodb" &&
      TRANSACT_ONLY.has(rule.fault) &&
      rule.operation !== undefined &&
      rule.operation !== "TransactWriteItems"
    ) {
      throw new RangeError(
        `${rule.fault} is a TransactWriteItems cancellation, not a ${rule.operation} error`,
      );
    }
    const armed = new Armed(rule);
    this.rules.push(armed);
    return armed;
  }

  /** Lifts every rule; the counts stay. */
  clear(): void {
    for (const rule of this.rules) rule.disarm();
    this.rules.length = 0;
  }

  /** Faults injected so far, by `service:Operation:fault`. */
  snapshot(): Record<string, number> {
    return Object.fromEntries([...this.counts].sort(([a], [b]) => a.localeCompare(b)));
  }

  /** How many faults were injected, optionally only for one service (and operation). */
  total(service?: FaultService, operation?: string): number {
    const prefix =
      service === undefined ? "" : `${service}:${operation === undefined ? "" : `${operation}:`}`;
    let sum = 0;
    for (const [key, n] of this.counts) if (key.startsWith(prefix)) sum += n;
    return sum;
  }

  /** Wraps the client's HTTP request handler. The DynamoDB document client shares its client's handler. */
  install(client: { readonly config: { readonly requestHandler?: unknown } }, service: FaultService): void {
    const handler = client.config.requestHandler as RequestHandlerLike | undefined;
    if (!handler || typeof handler.handle !== "function") {
      throw new TypeError(`the ${service} client has no request handler to wrap`);
    }
    if (this.installed.has(handler)) return;
    this.installed.add(handler);
    const send = handler.handle.bind(handler);
    handler.handle = async (request, options) => {
      const response = this.faultFor(service, request);
      return response ? { response } : send(request, options);
    };
  }

  private faultFor(service: FaultService, request: WireRequest): WireResponse | undefined {
    if (!this.rules.some((r) => r.active)) return undefined;
    const operation = operationOf(request);
    let input: unknown;
    let parsed = false;
    const call: FaultCall = {
      service,
      operation,
      get input() {
        if (!parsed) {
          input = parseBody(request.body);
          parsed = true;
        }
        return input;
      },
    };
    for (const armed of this.rules) {
      const { rule } = armed;
      if (!armed.active || rule.service !== service) continue;
      if (rule.operation !== undefined && rule.operation !== operation) continue;
      if (rule.service === "dynamodb" && TRANSACT_ONLY.has(rule.fault) && operation !== "TransactWriteItems")
        continue;
      if (armed.remaining === 0) continue;
      if (rule.match && !rule.match(call)) continue;
      if (rule.probability !== undefined && this.random() >= rule.probability) continue;
      armed.fired++;
      const key = `${service}:${operation}:${rule.fault}`;
      this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
      return rule.service === "dynamodb" ? dynamoDbResponse(rule.fault, call) : sqsResponse(rule.fault);
    }
    return undefined;
  }
}

export const createFaultInjector = (options: FaultInjectorOptions = {}): FaultInjector =>
  new FaultInjector(options);

/** Both services' JSON protocols name the operation in X-Amz-Target: `DynamoDB_20120810.PutItem`, `AmazonSQS.SendMessage`. */
function operationOf(request: WireRequest): string {
  for (const [name, value] of Object.entries(request.headers)) {
    if (name.toLowerCase() === "x-amz-target") return value.slice(value.lastIndexOf(".") + 1);
  }
  return "unknown";
}

const utf8 = new TextDecoder();

function parseBody(body: unknown): unknown {
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
function dynamoDbResponse(fault: DynamoDbFault, call: FaultCall): WireResponse {
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
function sqsResponse(fault: SqsFault): WireResponse {
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
