/**
 * The Lambda side of the wiring. A handler does not know where it runs: table
 * and queue names come from the environment the stack sets (CONCORD_PREFIX,
 * CONCORD_BANK_SERVERS, ...), endpoints from the standard AWS_ENDPOINT_URL*
 * variables (set by LocalStack, unset on AWS), all read once by `loadConfig`.
 */
import type { Context, ScheduledEvent, SQSBatchResponse, SQSEvent } from "aws-lambda";
import type { FunctionRole } from "../infra/topology.ts";
import { createAwsClients } from "./adapters/aws-clients.ts";
import { secretReader } from "./adapters/secrets-manager.ts";
import { type Config, ConfigError, loadConfig } from "./config.ts";
import { list } from "./env-values.ts";
import { createCloudWatchEmfMetrics } from "./metrics/cloudwatch-emf.ts";
import { type RoleBuilder, type RoleEntry, scheduledRun } from "./roles.ts";
import { type LogKeys, withScope } from "./trace-context.ts";
import { createWiring, type Wiring } from "./wiring.ts";

let config: Config | undefined;
let wiring: Wiring | undefined;

/** The configuration of this warm Lambda process, read from its environment on first use. */
export function lambdaConfig(): Config {
  config ??= loadConfig(process.env);
  return config;
}

/** The wiring of this warm Lambda process, built on first use; its metrics go to CloudWatch. */
export function lambdaWiring(from: Config = lambdaConfig()): Wiring {
  wiring ??= createWiring(from, createAwsClients(from), {
    metrics: createCloudWatchEmfMetrics({ service: from.topology.prefix }),
  });
  return wiring;
}

/** Runs one invocation, then writes what it counted (embedded metrics), whether it succeeded or threw. */
export function flushingMetrics<A extends unknown[], R>(
  wiring: Wiring,
  invoke: (...args: A) => Promise<R>,
): (...args: A) => Promise<R> {
  return async (...args) => {
    try {
      return await invoke(...args);
    } finally {
      wiring.metrics.flush?.();
    }
  };
}

/** An invocation's Lambda context as log keys, named as Powertools' `addContext` names them. */
const lambdaContextKeys = (context: Context, coldStart: boolean): LogKeys => ({
  cold_start: coldStart,
  function_name: context.functionName,
  function_arn: context.invokedFunctionArn,
  function_memory_size: context.memoryLimitInMB,
  function_request_id: context.awsRequestId,
});

/**
 * Runs each invocation with its Lambda context as log keys of the work
 * (trace-context.ts), so that every line of it carries the function, the
 * request id and whether it is a cold start, from whichever logger writes it.
 * Not `logger.addContext`: that sets the context on one Logger instance, while
 * the roles log through children built once per warm process (and per
 * transaction), which it never reaches, and a child made later would count a
 * cold start of its own. A cold start is the first invocation this process serves.
 */
export function withLambdaContext<E, R>(
  invoke: (event: E, context?: Context) => Promise<R>,
): (event: E, context?: Context) => Promise<R> {
  let cold = true;
  return (event, context) => {
    if (context === undefined) return invoke(event);
    const keys = lambdaContextKeys(context, cold);
    cold = false;
    return withScope(undefined, keys, () => invoke(event, context));
  };
}

/**
 * On AWS the API keys live in a Secrets Manager secret (design §3), read once at
 * cold start: `{"adminKeys":"k1,k2","apiKeys":"k3"}`, each a comma-separated list
 * like CONCORD_ADMIN_KEYS / CONCORD_API_KEYS, which they replace. Without
 * CONCORD_API_KEYS_SECRET the configuration is returned unchanged.
 *
 * Fails closed: a secret that cannot be read or holds no key stops the function
 * from starting, because an API without keys would run with auth off.
 */
export async function withApiKeysFromSecret(from: Config): Promise<Config> {
  const secretId = from.lambda.apiKeysSecret;
  if (!secretId) return from;
  const text = await secretReader(from)(secretId);
  let keys: { apiKeys?: unknown; adminKeys?: unknown };
  try {
    keys = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`secret ${secretId} is not JSON of the form {"adminKeys":"...","apiKeys":"..."}`, {
      cause: err,
    });
  }
  const keyList = (value: unknown) => list(typeof value === "string" ? value : undefined);
  const apiKeys = keyList(keys.apiKeys);
  const adminKeys = keyList(keys.adminKeys);
  if (apiKeys.length + adminKeys.length === 0)
    throw new ConfigError(`secret ${secretId} holds no API key; refusing to start with auth off`);
  return { ...from, apiKeys, adminKeys };
}

/**
 * A queue-triggered or scheduled function's Lambda handler, from its role's
 * builder (roles.ts): an SQS batch goes to the role's `batch`; a scheduled
 * event runs its `pass` every timer tick through the invocation. A built-in
 * participant's functions are told which participant they are by
 * CONCORD_PARTICIPANT.
 */
export function lambdaEntry<R extends Exclude<FunctionRole, "api">>(build: RoleBuilder<R>) {
  const wiring = lambdaWiring();
  const { batch, pass }: RoleEntry = build(wiring, wiring.config.lambda.participant ?? "");
  const run = pass && scheduledRun(wiring, pass);
  return flushingMetrics(
    wiring,
    withLambdaContext(
      async (event: SQSEvent | ScheduledEvent, context?: Context): Promise<SQSBatchResponse | undefined> => {
        if ("Records" in event) {
          if (!batch) throw new Error("this function is not triggered by a queue");
          return batch(event);
        }
        if (!run) throw new Error("this function does not run on a schedule");
        await run(context && (() => context.getRemainingTimeInMillis()));
        return undefined;
      },
    ),
  );
}
