/**
 * Every environment variable concord reads, in one zod schema: its type, its
 * default, its bounds and the message a bad value gets (parsers in
 * env-values.ts). `loadConfig` (config.ts) parses the environment with it once;
 * nothing else reads `process.env`.
 *
 * One more setting is one more entry here, `v(parser, default shown, what it
 * sets)`, and its row in docs/deploy.md (a test checks the table against this).
 */
import { z } from "zod";
import { LOCK_POLICIES } from "./core/lock-policy.ts";
import { CRASH_POINTS, CrashConfigError, parseCrashSpec } from "./crash-points.ts";
import {
  bool,
  commerceParticipants,
  hosts,
  int,
  jsonText,
  logLevel,
  oneOf,
  optionalInt,
  parsedBy,
  participantNames,
  prefix,
  rate,
  secret,
  stringList,
  text,
} from "./env-values.ts";
import { LOCK_MODES } from "./participant-kit/lock-mode.ts";
import { COMMERCE_PARTICIPANTS } from "./participants/commerce/names.ts";

/** What a variable means, for the configuration reference in docs/deploy.md. */
export interface VariableDoc {
  /** The default as a reader should see it ("none" when unset means nothing). */
  readonly default: string;
  readonly about: string;
}
export const docs = z.registry<VariableDoc>();

/** A variable: its parser, and what the reference says of it. */
function v<S extends z.ZodType>(schema: S, shown: string, about: string): S {
  docs.add(schema, { default: shown, about });
  return schema;
}

/** Lambda's longest timeout is 900 s; a scheduled function needs room for its last pass. */
export const MAX_SCHEDULED_RUN_SECONDS = 840;
/**
 * The longest one HTTP call may take: a batch of calls, then the sends that
 * report them, must finish well inside the dispatcher's 10 s function timeout.
 */
export const MAX_HTTP_TIMEOUT_MS = 8_000;
/** SQS keeps a message at most 14 days. */
export const SQS_MAX_RETENTION_SECONDS = 14 * 86_400;
const SQS_LIMIT = "SQS's limit";

/** The environment, one entry per variable. */
export const envSchema = z
  .object({
    // Topology: names of tables, queues and functions; a deployment writes these into every function.
    CONCORD_PREFIX: v(prefix("concord"), "concord", "prefix of every table, queue and function name"),
    CONCORD_BANK_SERVERS: v(
      participantNames(),
      "bank-1,bank-2,bank-3",
      "bank participant names, comma-separated",
    ),
    CONCORD_BANK_SERVER_COUNT: v(
      int(3, { min: 1 }),
      "3",
      "N bank servers `bank-1`..`bank-N`, when CONCORD_BANK_SERVERS is unset",
    ),
    CONCORD_COMMERCE_PARTICIPANTS: v(
      commerceParticipants(),
      COMMERCE_PARTICIPANTS.join(","),
      "the e-commerce participants to run (each its table, queue and function); `none` for none",
    ),
    CONCORD_DUE_SHARDS: v(
      int(4, { min: 1 }),
      "4",
      "partitions of the sweeper's due index and of the listing's status index",
    ),
    CONCORD_SWEEP_INTERVAL_SECONDS: v(
      int(60, { min: 1 }),
      "60 (1 locally)",
      "how often the scheduled functions run (whole minutes on AWS)",
    ),
    // Timers.
    CONCORD_TIMER_TICK_MS: v(
      int(1_000, { min: 50 }),
      "1000",
      "between two passes of a scheduled function (sweeper, in-doubt check): timers fire about this late at most",
    ),
    CONCORD_SCHEDULED_RUN_SECONDS: v(
      optionalInt({ min: 0, max: MAX_SCHEDULED_RUN_SECONDS, why: "Lambda stops a function at 900 s" }),
      "sweep interval + 5",
      `how long one scheduled invocation keeps passing; 0: one pass (at most ${MAX_SCHEDULED_RUN_SECONDS})`,
    ),
    // Protocol timing.
    CONCORD_DEFAULT_TIMEOUT_MS: v(
      int(60_000, { min: 1 }),
      "60000",
      "a transaction's deadline when the request gives none",
    ),
    CONCORD_MAX_TIMEOUT_MS: v(
      int(24 * 3_600_000, { min: 1 }),
      "86400000",
      "the largest `timeoutMs` accepted",
    ),
    CONCORD_PREPARE_RETRY_MS: v(
      int(5_000, { min: 1 }),
      "5000",
      "first re-send of PREPARE (or a saga action) to a silent participant",
    ),
    CONCORD_DECISION_RETRY_MS: v(
      int(5_000, { min: 1 }),
      "5000",
      "first re-send of a decision (or compensation) that is not acknowledged",
    ),
    CONCORD_WAITING_RETRY_MS: v(
      int(30_000, { min: 1 }),
      "30000",
      "least delay between PREPAREs to a participant waiting for a lock",
    ),
    CONCORD_BACKOFF_CAP_MS: v(
      int(30_000, { min: 1 }),
      "30000",
      "cap of the exponential backoff between re-sends",
    ),
    CONCORD_STALLED_AFTER_ATTEMPTS: v(
      int(10, { min: 1 }),
      "10",
      "re-sends after which a decision or compensation is logged as stalled",
    ),
    CONCORD_RETENTION_SECONDS: v(
      int(15 * 86_400, { min: 60 }),
      "1296000 (15 d)",
      "how long finished records and barriers are kept (TTL); at least the max timeout plus 14 days",
    ),
    // Participants.
    CONCORD_LOCK_POLICY: v(
      oneOf(LOCK_POLICIES, "wait-die"),
      "wait-die",
      `what a participant does on a lock conflict: ${LOCK_POLICIES.join(", ")}`,
    ),
    CONCORD_LOCK_MODE: v(
      oneOf(LOCK_MODES, "escrow"),
      "escrow",
      "how a PREPARE holds balances and stock: escrow (reservations, no lock) or exclusive (locks, the lock policy decides)",
    ),
    CONCORD_LOCK_WAIT_BUDGET_MS: v(
      int(0, { min: 0 }),
      "0",
      "how long one delivery of a PREPARE waits in process for a lock before it registers as a waiter (the release wakes it); 0: at once",
    ),
    CONCORD_IN_DOUBT_AFTER_MS: v(
      int(30_000, { min: 1 }),
      "30000",
      "a participant prepared this long asks the coordinator for the decision",
    ),
    CONCORD_QUEUED_ANSWERS: v(
      bool(),
      "false",
      "send every vote, ack and step result through the coordinator queue instead of applying it in the participant's invocation (direct answers)",
    ),
    CONCORD_SELF_DELIVERY: v(
      bool(true),
      "true",
      "with direct answers: a message the coordinator's handling sends, in a participant's (or the dispatcher's) invocation, to that same participant is handled there instead of through its queue (a COMMIT to the last voter, a PREPARE to the participant whose release woke it)",
    ),
    CONCORD_COMMIT_WITH_DECISION: v(
      bool(true),
      "true",
      "with self-delivery: the last voter's commit is written in the same TransactWriteItems as the decision it makes (no COMMIT to itself, no ack write after it; reservations only, not a barrier holding locks); false: it waits for its COMMIT",
    ),
    CONCORD_VOTE_WITH_PREPARE: v(
      bool(true),
      "true",
      "with direct answers: a participant's yes vote is written in the same TransactWriteItems as its prepare (no write of its own first, no vote write after); where that vote decides to commit, with its branches applied at once (reservations only). Where branches declare their moves, in a transaction of at most four participants; false: it prepares, then votes",
    ),
    CONCORD_PAYMENT_FAILURE_RATE: v(
      rate(),
      "0",
      "the simulated payment provider: probability (0-1) that a call fails transiently",
    ),
    CONCORD_PAYMENT_LATENCY_MS: v(
      int(0, { min: 0 }),
      "0",
      "the simulated payment provider: how long each call takes",
    ),
    // HTTP participants.
    CONCORD_HTTP_PARTICIPANT_HOSTS: v(
      hosts(),
      "none (any public host)",
      "hosts an HTTP participant's base URL may name: `api.example.com`, `*.example.com`, IP addresses",
    ),
    CONCORD_HTTP_PARTICIPANT_ALLOW_PRIVATE: v(
      bool(),
      "false (true under npm start)",
      "allow loopback, private and unique-local addresses for HTTP participants; never deployed",
    ),
    CONCORD_HTTP_TIMEOUT_MS: v(
      int(3_000, { min: 1, max: MAX_HTTP_TIMEOUT_MS, why: "the dispatcher function times out at 10 s" }),
      "3000",
      `one call to an HTTP participant, connect to last byte (at most ${MAX_HTTP_TIMEOUT_MS})`,
    ),
    CONCORD_HTTP_PARTICIPANT_SECRET: v(
      secret(32),
      "none (calls unsigned)",
      "signs every call to an HTTP participant (`Concord-Signature`, HMAC-SHA256); at least 32 characters; never logged",
    ),
    CONCORD_HTTP_PARTICIPANT_SECRET_ARN: v(
      text(),
      "none",
      "deployed dispatcher function: the Secrets Manager secret it signs with, re-read every 5 minutes (set by the stack)",
    ),
    // API keys.
    CONCORD_API_KEYS: v(
      stringList(),
      "none",
      "comma-separated client API keys; with none and no admin keys, auth is off",
    ),
    CONCORD_ADMIN_KEYS: v(stringList(), "none", "comma-separated admin API keys"),
    CONCORD_API_KEYS_SECRET: v(
      text(),
      "none",
      "deployed API function: the Secrets Manager secret its keys come from (set by the stack)",
    ),
    // A deployed function, and logging.
    CONCORD_PARTICIPANT: v(
      text(),
      "none",
      "deployed participant function: the participant it serves (set by the stack)",
    ),
    CONCORD_LOG_LEVEL: v(logLevel(), "INFO", "log level: DEBUG, INFO, WARN, ERROR, …"),
    POWERTOOLS_LOG_LEVEL: v(logLevel(), "INFO", "log level, when CONCORD_LOG_LEVEL is unset"),
    // Local runtime (`npm start`, `concord role`); never deployed.
    CONCORD_DATA_DIR: v(text(), ".concord/data", "where `npm start` keeps DynamoDB data"),
    CONCORD_LOCAL_VISIBILITY_TIMEOUT_SECONDS: v(
      int(10, { min: 0, max: 43_200, why: SQS_LIMIT }),
      "10",
      "local queues: how soon a failed message is received again",
    ),
    CONCORD_LOCAL_MAX_RECEIVE_COUNT: v(
      optionalInt({ min: 1, max: 1_000, why: SQS_LIMIT }),
      "the topology's (5)",
      "local queues: receives before a message moves to its dead-letter queue",
    ),
    // Tests; never deployed.
    CONCORD_CRASH_AT: v(
      parsedBy(parseCrashSpec, CrashConfigError),
      "none",
      `fault tests: die or fail at named crash points (${CRASH_POINTS.length}, in src/crash-points.ts)`,
    ),
    // Kept as text: only `concord role` reads the plan (testkit/faults), so no bundle holds its parser.
    CONCORD_FAULTS: v(
      jsonText(),
      "none",
      "fault tests: a fault plan (JSON) for `concord role`: lost, duplicated, delayed sends, failing AWS calls",
    ),
    // AWS: the SDK's own variables, read here so that an environment given to
    // loadConfig (a child's, a test's) is the one the clients use.
    AWS_REGION: v(text(), "us-east-1", "AWS region"),
    AWS_DEFAULT_REGION: v(text(), "none", "AWS region, when AWS_REGION is unset"),
    AWS_ENDPOINT_URL: v(text(), "none (AWS)", "one endpoint for every AWS service (LocalStack)"),
    AWS_ENDPOINT_URL_DYNAMODB: v(
      text(),
      "AWS_ENDPOINT_URL",
      "DynamoDB endpoint (DynamoDB Local, LocalStack)",
    ),
    AWS_ENDPOINT_URL_SQS: v(text(), "AWS_ENDPOINT_URL", "SQS endpoint (the SQS emulator, LocalStack)"),
    AWS_ENDPOINT_URL_SECRETS_MANAGER: v(text(), "AWS_ENDPOINT_URL", "Secrets Manager endpoint (LocalStack)"),
    AWS_ACCESS_KEY_ID: v(
      text(),
      "the SDK's chain",
      "credentials, with AWS_SECRET_ACCESS_KEY (the emulators accept any)",
    ),
    AWS_SECRET_ACCESS_KEY: v(text(), "the SDK's chain", "credentials, with AWS_ACCESS_KEY_ID"),
    AWS_SESSION_TOKEN: v(text(), "none", "credentials: the session token of temporary ones"),
  })
  .superRefine((env, ctx) => {
    // Rules between variables.
    const banks = env.CONCORD_BANK_SERVERS ?? [];
    for (const name of env.CONCORD_COMMERCE_PARTICIPANTS) {
      if (banks.includes(name)) {
        ctx.addIssue({
          code: "custom",
          path: ["CONCORD_BANK_SERVERS"],
          message: `names "${name}", an e-commerce participant too; rename the bank server`,
        });
      }
    }
    // A settled barrier must outlive every message about its transaction: the
    // deadline plus the longest an SQS message can wait (14 days).
    const least = Math.ceil(env.CONCORD_MAX_TIMEOUT_MS / 1000) + SQS_MAX_RETENTION_SECONDS;
    if (env.CONCORD_RETENTION_SECONDS < least) {
      ctx.addIssue({
        code: "custom",
        path: ["CONCORD_RETENTION_SECONDS"],
        message: `(${env.CONCORD_RETENTION_SECONDS}) must be at least CONCORD_MAX_TIMEOUT_MS in seconds plus 14 days (${least})`,
      });
    }
  });

export type Env = z.output<typeof envSchema>;
export type EnvVariable = keyof z.input<typeof envSchema>;
export const ENV_VARIABLES = Object.keys(envSchema.shape) as EnvVariable[];

/** The configuration reference: one table row per variable, in schema order. */
export function configReference(): string {
  const rows = ENV_VARIABLES.map((name) => {
    const doc = docs.get(envSchema.shape[name]);
    if (!doc) throw new Error(`${name} has no docs entry in env-schema.ts`);
    return `| \`${name}\` | ${doc.default} | ${doc.about} |`;
  });
  return ["| variable | default | what it sets |", "| --- | --- | --- |", ...rows].join("\n");
}
