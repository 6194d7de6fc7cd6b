/**
 * Fault injection configured in one place. A FaultPlan says what goes wrong
 * between concord's processes and AWS: messages dropped, duplicated, delayed
 * (which also reorders them), and DynamoDB/SQS errors. The `role` command reads
 * it from CONCORD_FAULTS (JSON) and wraps its bus and AWS clients with it;
 * unset, nothing is wrapped and nothing costs anything.
 *
 *   CONCORD_FAULTS='{"seed":7,"drop":0.1,"dup":0.1,"delayMs":500,
 *     "aws":[{"service":"dynamodb","fault":"throttling","probability":0.02}]}'
 *
 * Every random decision comes from a source seeded by `seed`: the same seed and
 * the same sequence of sends give the same drops, copies and delays.
 */

import type { MessageBus } from "../../src/ports/message-bus.ts";
import {
  DYNAMODB_FAULTS,
  type DynamoDbFault,
  type FaultRule,
  SQS_FAULTS,
  type SqsFault,
} from "./fault-catalogue.ts";
import { createFaultInjector, type FaultInjector, seededRandom } from "./fault-injection.ts";

export { seededRandom };

/** One AWS error rule: on a matching call, with this probability, answer with `fault`. */
export type AwsFaultSpec =
  | { readonly service: "dynamodb"; readonly fault: DynamoDbFault; readonly probability: number }
  | { readonly service: "sqs"; readonly fault: SqsFault; readonly probability: number };

export interface FaultPlan {
  readonly seed: number;
  /** Chance that a send is silently lost (the sender believes it sent). */
  readonly drop: number;
  /** Chance that a send is delivered twice. */
  readonly dup: number;
  /** Each delivered copy waits a random 0..delayMs first; copies overtake each other. */
  readonly delayMs: number;
  /** With no delay configured, still shuffle order by up to 50 ms. */
  readonly reorder: boolean;
  /** AWS errors injected below the SDK (it retries them as it would in AWS). */
  readonly aws: readonly AwsFaultSpec[];
}

export const FAULTS_ENV = "CONCORD_FAULTS";

export class FaultPlanError extends Error {
  override name = "FaultPlanError";
}

const probability = (name: string, v: unknown): number => {
  const n = v === undefined ? 0 : Number(v);
  if (!(n >= 0 && n <= 1)) throw new FaultPlanError(`${name} must be a probability 0-1, got ${String(v)}`);
  return n;
};

/** Validates a plan given as a plain object (e.g. parsed JSON). */
export function parseFaultPlan(raw: unknown): FaultPlan {
  if (typeof raw !== "object" || raw === null) throw new FaultPlanError("a fault plan is a JSON object");
  const o = raw as Record<string, unknown>;
  const seed = o.seed === undefined ? 1 : Number(o.seed);
  if (!Number.isInteger(seed)) throw new FaultPlanError(`seed must be an integer, got ${String(o.seed)}`);
  const delayMs = o.delayMs === undefined ? 0 : Number(o.delayMs);
  if (!(Number.isInteger(delayMs) && delayMs >= 0 && delayMs <= 900_000))
    throw new FaultPlanError(`delayMs must be an integer 0-900000, got ${String(o.delayMs)}`);
  const aws = o.aws === undefined ? [] : o.aws;
  if (!Array.isArray(aws)) throw new FaultPlanError("aws must be a list of rules");
  return {
    seed,
    drop: probability("drop", o.drop),
    dup: probability("dup", o.dup),
    delayMs,
    reorder: o.reorder === true,
    aws: aws.map((r: unknown, i): AwsFaultSpec => {
      const rule = (r ?? {}) as Record<string, unknown>;
      const p = probability(`aws[${i}].probability`, rule.probability);
      if (rule.service === "dynamodb" && (DYNAMODB_FAULTS as readonly unknown[]).includes(rule.fault))
        return { service: "dynamodb", fault: rule.fault as DynamoDbFault, probability: p };
      if (rule.service === "sqs" && (SQS_FAULTS as readonly unknown[]).includes(rule.fault))
        return { service: "sqs", fault: rule.fault as SqsFault, probability: p };
      throw new FaultPlanError(
        `aws[${i}] must be {service:"dynamodb", fault: ${DYNAMODB_FAULTS.join("|")}} or {service:"sqs", fault: ${SQS_FAULTS.join("|")}}`,
      );
    }),
  };
}

/** The plan in a CONCORD_FAULTS value, or undefined when unset or empty; a bad one names the variable. */
export function parseFaultPlanText(value: string | undefined): FaultPlan | undefined {
  const text = value?.trim();
  if (!text) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new FaultPlanError(`${FAULTS_ENV} is not JSON: ${text}`);
  }
  try {
    return parseFaultPlan(raw);
  } catch (err) {
    if (err instanceof FaultPlanError) throw new FaultPlanError(`${FAULTS_ENV} ${err.message}`);
    throw err;
  }
}

/** What happens to one send: no copy (dropped), one, or two, each after its delay. */
export interface SendFate {
  readonly delays: readonly number[];
}

/** The plan's decisions, one per send, drawn in order from `random`. */
export function fateSource(plan: FaultPlan, random: () => number): () => SendFate {
  const jitter = plan.delayMs > 0 ? plan.delayMs : plan.reorder ? 50 : 0;
  const delay = () => (jitter > 0 ? Math.floor(random() * (jitter + 1)) : 0);
  return () => {
    // Always draw the same number of values per send, so one decision never shifts the next.
    const dropped = random() < plan.drop;
    const duplicated = random() < plan.dup;
    const d1 = delay();
    const d2 = delay();
    if (dropped) return { delays: [] };
    return { delays: duplicated ? [d1, d2] : [d1] };
  };
}

export interface FaultyBusStats {
  sends: number;
  dropped: number;
  duplicated: number;
  delayed: number;
}

/**
 * Wraps a bus with the plan's message faults. A dropped send resolves as if
 * sent. Delayed copies go out from a timer (the send resolves at once, as a
 * network would have taken it); an error sending a delayed copy is lost, like
 * the message. Undelayed copies are sent inline, so their errors still reach
 * the sender.
 */
export function faultyBus(
  bus: MessageBus,
  plan: FaultPlan,
  random: () => number = seededRandom(plan.seed),
  stats: FaultyBusStats = { sends: 0, dropped: 0, duplicated: 0, delayed: 0 },
): MessageBus {
  const fate = fateSource(plan, random);
  async function deliver(send: () => Promise<void>): Promise<void> {
    const { delays } = fate();
    stats.sends++;
    if (delays.length === 0) stats.dropped++;
    if (delays.length > 1) stats.duplicated++;
    for (const ms of delays) {
      if (ms > 0) {
        stats.delayed++;
        setTimeout(() => send().catch(() => {}), ms);
      } else await send();
    }
  }
  return {
    toCoordinator: (message) => deliver(() => bus.toCoordinator(message)),
    toParticipant: (participant, message, options) =>
      deliver(() => bus.toParticipant(participant, message, options)),
  };
}

/** A fault injector armed with the plan's AWS rules, or undefined when it has none. */
export function awsFaultInjector(plan: FaultPlan): FaultInjector | undefined {
  const rules = plan.aws.filter((r) => r.probability > 0);
  if (rules.length === 0) return undefined;
  const injector = createFaultInjector({ seed: plan.seed });
  for (const r of rules) injector.arm(r as FaultRule);
  return injector;
}

/** A 32-bit seed for one named stream of decisions under a base seed (FNV-1a over the name). */
export function deriveSeed(seed: number, name: string): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}
