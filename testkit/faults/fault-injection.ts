/**
 * Transient AWS faults on demand. DynamoDB Local and the SQS emulator never
 * throttle, conflict or fail, so tests ask for it here. The injector sits in
 * the client's HTTP request handler, below signing, retries and
 * deserialization: the SDK receives the status, headers and JSON body AWS would
 * send and handles them with its own error classes and retry strategy, exactly
 * as in production. Every attempt the SDK makes is one call here, so a rule
 * with `times: 2` costs one request two of its retries.
 */
import type { ArmedFault, DynamoDbFault, FaultCall, FaultRule, FaultService } from "./fault-catalogue.ts";
import {
  dynamoDbResponse,
  operationOf,
  parseBody,
  sqsResponse,
  type WireRequest,
  type WireResponse,
} from "./fault-responses.ts";

export interface FaultInjectorOptions {
  /** Seed of the source `probability` draws from; the same seed and calls give the same faults. */
  readonly seed?: number;
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
