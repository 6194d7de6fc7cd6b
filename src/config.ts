import type { z } from "zod";
import { buildTopology, type Topology } from "../infra/topology.ts";
import type { LockPolicy } from "./core/lock-policy.ts";
import type { CrashRules } from "./crash-points.ts";
import { envSchema, MAX_SCHEDULED_RUN_SECONDS } from "./env-schema.ts";
import type { LockMode } from "./participant-kit/lock-mode.ts";
import type { CommerceParticipantName } from "./participants/commerce/names.ts";

/** Everything a handler needs to know about where it runs, read once per process. */
export interface Config {
  readonly region: string;
  readonly endpoints: { readonly dynamodb?: string; readonly sqs?: string };
  readonly topology: Topology;
  readonly bankServers: readonly string[];
  readonly apiKeys: readonly string[];
  readonly adminKeys: readonly string[];
  readonly timing: Timing;
  readonly timers: TimerSettings;
  readonly participants: ParticipantSettings;
  readonly commerce: CommerceSettings;
  readonly http: HttpParticipantSettings;
  /** Credentials given in the environment (AWS_ACCESS_KEY_ID, ...); absent: the SDK's default chain. */
  readonly credentials?: AwsCredentials;
  readonly log: LogSettings;
  /** What a deployed function is told by the stack. */
  readonly lambda: LambdaSettings;
  readonly local: LocalSettings;
  /** Fault injection for tests; both unset everywhere else. */
  readonly faults: FaultSettings;
}

export interface AwsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

export interface LogSettings {
  /** Powertools' log level name (DEBUG, INFO, WARN, ERROR, ...). */
  readonly level: string;
}

export interface LambdaSettings {
  /** The participant a participant function serves (CONCORD_PARTICIPANT). */
  readonly participant?: string;
  /** The secret the API function reads its API keys from (CONCORD_API_KEYS_SECRET). */
  readonly apiKeysSecret?: string;
  readonly secretsManagerEndpoint?: string;
}

/** The local runtime's own settings (`npm start`, `concord role`); never deployed. */
export interface LocalSettings {
  readonly dataDir: string;
  /** Local queues retry a failed message within seconds, not Lambda's minute. */
  readonly visibilityTimeoutSeconds: number;
  /** Receives before a failing message moves to its dead-letter queue; the topology's value when absent. */
  readonly maxReceiveCount?: number;
}

export interface FaultSettings {
  /** CONCORD_CRASH_AT: where this process dies or fails. */
  readonly crashAt?: CrashRules;
  /**
   * CONCORD_FAULTS, as JSON text: what `concord role` does to its sends and AWS
   * calls. The role command parses it (testkit/faults/fault-plan.ts); nothing else reads it.
   */
  readonly planText?: string;
}

/** Registered HTTP participants: where concord may call, and how long it waits. */
export interface HttpParticipantSettings {
  /** Hosts a base URL may name (exact, or `*.example.com` for subdomains); empty: any public host. */
  readonly allowedHosts: readonly string[];
  /** Loopback, private and unique-local addresses accepted (`npm start` allows them; a deployment does not). */
  readonly allowPrivate: boolean;
  /** One call's limit, connect to last byte. */
  readonly timeoutMs: number;
  /** Signs every call (`Concord-Signature`, HMAC-SHA256) when set; services check it. Never logged. */
  readonly secret?: string;
  /**
   * The Secrets Manager secret (ARN or name) to sign with instead (a deployed
   * dispatcher: CONCORD_HTTP_PARTICIPANT_SECRET_ARN, set by the stack).
   */
  readonly secretArn?: string;
}

export interface CommerceSettings {
  /** The e-commerce participants this deployment runs (each with its table, queue and function). */
  readonly participants: readonly CommerceParticipantName[];
  /** The simulated payment provider: how often a call fails (0-1, transiently), and how long each takes. */
  readonly payment: { readonly failureRate: number; readonly latencyMs: number };
}

export interface ParticipantSettings {
  /** What a participant does on a lock conflict. */
  readonly lockPolicy: LockPolicy;
  /** How a PREPARE holds quantities: reservations (escrow) or exclusive locks. */
  readonly lockMode: LockMode;
  /** How long one delivery of a PREPARE waits in process for a lock before re-queueing itself. */
  readonly lockWaitBudgetMs: number;
  /** A prepared barrier older than this asks the coordinator for the decision. */
  readonly inDoubtAfterMs: number;
  /**
   * Answers (votes, acks, step results, inquiries) go through the coordinator
   * queue only; by default they are applied in the answering invocation, the
   * queue the fallback (src/coordinator/direct-inbox.ts).
   */
  readonly queuedAnswers: boolean;
  /**
   * With direct answers, what the coordinator's handling sends the answering
   * participant itself is handled in its invocation (src/self-delivery.ts).
   */
  readonly selfDelivery: boolean;
  /**
   * With self-delivery, the last voter's commit is written with the decision
   * it makes (src/ports/alongside.ts).
   */
  readonly commitWithDecision: boolean;
  /** A participant's yes vote written with its prepare (src/core/own-vote.ts). */
  readonly voteWithPrepare: boolean;
}

/** Protocol timing, in milliseconds unless named otherwise. */
export interface Timing {
  readonly defaultTimeoutMs: number;
  readonly maxTimeoutMs: number;
  /** A participant that has not voted this long after PREPARE gets it again. */
  readonly prepareRetryMs: number;
  /** A participant that has not acknowledged a decision this long gets it again. */
  readonly decisionRetryMs: number;
  /** A participant waiting for a lock (it holds a copy of its PREPARE) gets another no sooner than this. */
  readonly waitingRetryMs: number;
  /** Cap of the exponential backoff between re-sends. */
  readonly backoffCapMs: number;
  /** Re-sends after which a stalled decision is logged as a warning. */
  readonly stalledAfterAttempts: number;
  /** Finished records (and participant barriers) live this long before TTL removes them. */
  readonly retentionSeconds: number;
}

/**
 * How finely timers (deadlines, re-sends, in-doubt checks) fire. A schedule runs
 * in whole minutes on AWS, so one scheduled invocation keeps passing, one pass
 * every `tickMs`, for `runSeconds`: a timer fires at most a tick (plus a pass)
 * after its due time, wherever it falls in the minute.
 */
export interface TimerSettings {
  /** Between the starts of two passes of a scheduled function (and of the local runtime's timers). */
  readonly tickMs: number;
  /**
   * How long one scheduled invocation keeps passing: the schedule's interval plus
   * a few seconds of overlap, so a next invocation that starts late leaves no gap
   * (two overlapping sweepers claim each due transaction once). 0: one pass.
   */
  readonly runSeconds: number;
}

export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Every participant's name: bank servers, then the e-commerce participants. */
export const participantNames = (config: Pick<Config, "bankServers" | "commerce">): string[] => [
  ...config.bankServers,
  ...config.commerce.participants,
];

export const DEFAULT_DATA_DIR = ".concord/data";

/** The first problem, led by the variable's name. */
function configError(error: z.ZodError): ConfigError {
  const issue = error.issues[0];
  const name = String(issue?.path[0] ?? "environment");
  const message = issue?.message ?? "is not valid";
  return new ConfigError(message.startsWith(name) ? message : `${name} ${message}`, { cause: error });
}

/**
 * The configuration of this process, from an environment (by default its own),
 * parsed once by the schema in env-schema.ts. Call it once at startup and pass
 * the result (or the piece needed) down.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) throw configError(parsed.error);
  const e = parsed.data;
  const bankServers =
    e.CONCORD_BANK_SERVERS ?? Array.from({ length: e.CONCORD_BANK_SERVER_COUNT }, (_, i) => `bank-${i + 1}`);
  const commerce = e.CONCORD_COMMERCE_PARTICIPANTS;
  const timers: TimerSettings = {
    tickMs: e.CONCORD_TIMER_TICK_MS,
    runSeconds: e.CONCORD_SCHEDULED_RUN_SECONDS ?? e.CONCORD_SWEEP_INTERVAL_SECONDS + 5,
  };
  if (timers.runSeconds > MAX_SCHEDULED_RUN_SECONDS) {
    throw new ConfigError(
      `CONCORD_SCHEDULED_RUN_SECONDS must be at most ${MAX_SCHEDULED_RUN_SECONDS} (Lambda stops a function at 900 s), got ${timers.runSeconds} (the sweep interval + 5)`,
    );
  }
  if (e.CONCORD_HTTP_PARTICIPANT_SECRET && e.CONCORD_HTTP_PARTICIPANT_SECRET_ARN) {
    throw new ConfigError(
      "CONCORD_HTTP_PARTICIPANT_SECRET and CONCORD_HTTP_PARTICIPANT_SECRET_ARN are both set: give the secret, or the Secrets Manager secret that holds it",
    );
  }
  const dynamodb = e.AWS_ENDPOINT_URL_DYNAMODB ?? e.AWS_ENDPOINT_URL;
  const sqs = e.AWS_ENDPOINT_URL_SQS ?? e.AWS_ENDPOINT_URL;
  const secretsManagerEndpoint = e.AWS_ENDPOINT_URL_SECRETS_MANAGER ?? e.AWS_ENDPOINT_URL;
  return {
    region: e.AWS_REGION ?? e.AWS_DEFAULT_REGION ?? "us-east-1",
    endpoints: { ...(dynamodb ? { dynamodb } : {}), ...(sqs ? { sqs } : {}) },
    topology: buildTopology({
      prefix: e.CONCORD_PREFIX,
      bankServers,
      commerceParticipants: commerce,
      dueShards: e.CONCORD_DUE_SHARDS,
      sweepIntervalSeconds: e.CONCORD_SWEEP_INTERVAL_SECONDS,
      scheduledRunSeconds: timers.runSeconds,
    }),
    bankServers,
    apiKeys: e.CONCORD_API_KEYS,
    adminKeys: e.CONCORD_ADMIN_KEYS,
    timers,
    timing: {
      defaultTimeoutMs: e.CONCORD_DEFAULT_TIMEOUT_MS,
      maxTimeoutMs: e.CONCORD_MAX_TIMEOUT_MS,
      prepareRetryMs: e.CONCORD_PREPARE_RETRY_MS,
      decisionRetryMs: e.CONCORD_DECISION_RETRY_MS,
      waitingRetryMs: e.CONCORD_WAITING_RETRY_MS,
      backoffCapMs: e.CONCORD_BACKOFF_CAP_MS,
      stalledAfterAttempts: e.CONCORD_STALLED_AFTER_ATTEMPTS,
      retentionSeconds: e.CONCORD_RETENTION_SECONDS,
    },
    participants: {
      lockPolicy: e.CONCORD_LOCK_POLICY,
      lockMode: e.CONCORD_LOCK_MODE,
      lockWaitBudgetMs: e.CONCORD_LOCK_WAIT_BUDGET_MS,
      inDoubtAfterMs: e.CONCORD_IN_DOUBT_AFTER_MS,
      queuedAnswers: e.CONCORD_QUEUED_ANSWERS,
      selfDelivery: e.CONCORD_SELF_DELIVERY,
      commitWithDecision: e.CONCORD_COMMIT_WITH_DECISION,
      voteWithPrepare: e.CONCORD_VOTE_WITH_PREPARE,
    },
    commerce: {
      participants: commerce,
      payment: { failureRate: e.CONCORD_PAYMENT_FAILURE_RATE, latencyMs: e.CONCORD_PAYMENT_LATENCY_MS },
    },
    http: {
      allowedHosts: e.CONCORD_HTTP_PARTICIPANT_HOSTS,
      allowPrivate: e.CONCORD_HTTP_PARTICIPANT_ALLOW_PRIVATE,
      timeoutMs: e.CONCORD_HTTP_TIMEOUT_MS,
      ...(e.CONCORD_HTTP_PARTICIPANT_SECRET ? { secret: e.CONCORD_HTTP_PARTICIPANT_SECRET } : {}),
      ...(e.CONCORD_HTTP_PARTICIPANT_SECRET_ARN ? { secretArn: e.CONCORD_HTTP_PARTICIPANT_SECRET_ARN } : {}),
    },
    ...(e.AWS_ACCESS_KEY_ID && e.AWS_SECRET_ACCESS_KEY
      ? {
          credentials: {
            accessKeyId: e.AWS_ACCESS_KEY_ID,
            secretAccessKey: e.AWS_SECRET_ACCESS_KEY,
            ...(e.AWS_SESSION_TOKEN ? { sessionToken: e.AWS_SESSION_TOKEN } : {}),
          },
        }
      : {}),
    log: { level: e.CONCORD_LOG_LEVEL ?? e.POWERTOOLS_LOG_LEVEL ?? "INFO" },
    lambda: {
      ...(e.CONCORD_PARTICIPANT ? { participant: e.CONCORD_PARTICIPANT } : {}),
      ...(e.CONCORD_API_KEYS_SECRET ? { apiKeysSecret: e.CONCORD_API_KEYS_SECRET } : {}),
      ...(secretsManagerEndpoint ? { secretsManagerEndpoint } : {}),
    },
    local: {
      dataDir: e.CONCORD_DATA_DIR ?? DEFAULT_DATA_DIR,
      visibilityTimeoutSeconds: e.CONCORD_LOCAL_VISIBILITY_TIMEOUT_SECONDS,
      ...(e.CONCORD_LOCAL_MAX_RECEIVE_COUNT !== undefined
        ? { maxReceiveCount: e.CONCORD_LOCAL_MAX_RECEIVE_COUNT }
        : {}),
    },
    faults: {
      ...(e.CONCORD_CRASH_AT ? { crashAt: e.CONCORD_CRASH_AT } : {}),
      ...(e.CONCORD_FAULTS ? { planText: e.CONCORD_FAULTS } : {}),
    },
  };
}
