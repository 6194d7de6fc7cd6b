import type { Config } from "../../src/config.ts";
import { ENV_VARIABLES } from "../../src/env-schema.ts";

/** Names the Secrets Manager secret (ARN or name) the API function reads its API keys from. */
export const API_KEYS_SECRET_VARIABLE = "CONCORD_API_KEYS_SECRET";

/** Names the Secrets Manager secret (ARN) the dispatcher function signs its calls to HTTP participants with. */
export const HTTP_PARTICIPANT_SECRET_VARIABLE = "CONCORD_HTTP_PARTICIPANT_SECRET_ARN";

/** Settings that never go into a deployed function's environment. */
const NOT_DEPLOYED = new Set([
  // Replaced by CONCORD_BANK_SERVERS below.
  "CONCORD_BANK_SERVER_COUNT",
  // Local runtime only.
  "CONCORD_DATA_DIR",
  // Fault injection for tests.
  "CONCORD_CRASH_AT",
  // Loopback and private participants are for one machine (`npm start`): a deployment never calls them.
  "CONCORD_HTTP_PARTICIPANT_ALLOW_PRIVATE",
  API_KEYS_SECRET_VARIABLE,
]);
/** Only the settings the functions read: a shell's other CONCORD_* variables (a test runner's, a script's) stay out. */
const KNOWN: ReadonlySet<string> = new Set(ENV_VARIABLES);
/** API keys and anything like them would land in the template in plain text: they come from the secret. */
const SECRET_LIKE = /KEY|SECRET|TOKEN|PASSWORD/;

/**
 * The environment every deployed function gets, from the deploying shell's own:
 *
 * - the settings that shape the topology (prefix, bank servers, e-commerce
 *   participants, due shards, sweep interval), written out from `config`, so
 *   every function's `loadConfig()` rebuilds exactly the topology the stack was
 *   generated from: the same table and queue names;
 * - every other `CONCORD_*` setting that is set (timing, lock policy, log level, ...),
 *   as given, so the functions run with what `npm start` would run with. Unset ones
 *   take the same defaults in the function, read by the same `loadConfig`.
 *
 * Never API keys (they come from a secret, see the stack), nor local-only or test settings,
 * nor a `CONCORD_*` variable that is no setting of the functions (e.g. a test runner's).
 */
export function functionEnvironment(config: Config, env: NodeJS.ProcessEnv): Record<string, string> {
  const { topology } = config;
  const settings: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    if (!key.startsWith("CONCORD_") || value === undefined || value === "") continue;
    if (!KNOWN.has(key) || NOT_DEPLOYED.has(key) || SECRET_LIKE.test(key)) continue;
    settings[key] = value;
  }
  const sweeper = topology.functions.find((f) => f.role === "sweeper");
  return {
    ...settings,
    CONCORD_PREFIX: topology.prefix,
    CONCORD_BANK_SERVERS: config.bankServers.join(","),
    CONCORD_COMMERCE_PARTICIPANTS: config.commerce.participants.join(",") || "none",
    CONCORD_DUE_SHARDS: String(topology.dueShards),
    ...(sweeper?.schedule ? { CONCORD_SWEEP_INTERVAL_SECONDS: String(sweeper.schedule.rateSeconds) } : {}),
  };
}
