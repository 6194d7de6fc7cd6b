import { isIP } from "node:net";
import { buildTopology, type Topology } from "../infra/topology.ts";
import { isLockPolicy, type LockPolicy } from "./core/lock-policy.ts";
import {
  COMMERCE_PARTICIPANTS,
  type CommerceParticipantName,
  isCommerceParticipant,
} from "./participants/commerce/names.ts";

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
  /** How long one delivery of a PREPARE waits in process for a lock before re-queueing itself. */
  readonly lockWaitBudgetMs: number;
  /** A prepared barrier older than this asks the coordinator for the decision. */
  readonly inDoubtAfterMs: number;
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

/** Lambda's longest timeout is 900 s; a scheduled function needs room for its last pass. */
export const MAX_SCHEDULED_RUN_SECONDS = 840;

export class ConfigError extends Error {
  override name = "ConfigError";
}

const list = (value: string | undefined): string[] =>
  (value ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);

function int(env: NodeJS.ProcessEnv, key: string, fallback: number, min = 0): number {
  const raw = env[key];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < min)
    throw new ConfigError(`${key} must be an integer >= ${min}, got "${raw}"`);
  return n;
}

function rate(env: NodeJS.ProcessEnv, key: string): number {
  const raw = env[key];
  if (raw === undefined || raw === "") return 0;
  const n = Number(raw);
  if (!/^\d*\.?\d+$/.test(raw.trim()) || n < 0 || n > 1)
    throw new ConfigError(`${key} must be a number from 0 to 1, got "${raw}"`);
  return n;
}

/** Unset: all of them; `none`: none; else a comma-separated list. */
function commerceParticipants(env: NodeJS.ProcessEnv): CommerceParticipantName[] {
  const raw = env.CONCORD_COMMERCE_PARTICIPANTS?.trim();
  if (raw === undefined || raw === "") return [...COMMERCE_PARTICIPANTS];
  if (raw === "none") return [];
  const names = list(raw);
  for (const name of names) {
    if (!isCommerceParticipant(name)) {
      throw new ConfigError(
        `CONCORD_COMMERCE_PARTICIPANTS names "${name}"; they are ${COMMERCE_PARTICIPANTS.join(", ")} (or none)`,
      );
    }
  }
  return [...new Set(names)] as CommerceParticipantName[];
}

/** Every participant's name: bank servers, then the e-commerce participants. */
export const participantNames = (config: Pick<Config, "bankServers" | "commerce">): string[] => [
  ...config.bankServers,
  ...config.commerce.participants,
];

const SQS_MAX_RETENTION_SECONDS = 14 * 86_400;

/**
 * The longest one HTTP call may take: a batch of calls, then the sends that
 * report them, must finish well inside the dispatcher's 10 s function timeout.
 */
export const MAX_HTTP_TIMEOUT_MS = 8_000;

function bool(env: NodeJS.ProcessEnv, key: string): boolean {
  const raw = env[key]?.trim().toLowerCase();
  if (raw === undefined || raw === "" || raw === "false" || raw === "0") return false;
  if (raw === "true" || raw === "1") return true;
  throw new ConfigError(`${key} must be true or false, got "${env[key]}"`);
}

const HOST_PATTERN = /^(\*\.)?[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$|^\[[0-9a-f:.]+\]$/;

function httpSettings(env: NodeJS.ProcessEnv): HttpParticipantSettings {
  const allowedHosts = list(env.CONCORD_HTTP_PARTICIPANT_HOSTS).map((h) => h.toLowerCase());
  for (const host of allowedHosts) {
    if (!HOST_PATTERN.test(host) && isIP(host) === 0) {
      throw new ConfigError(
        `CONCORD_HTTP_PARTICIPANT_HOSTS names "${host}"; give host names (api.example.com, *.example.com) or IP addresses, no scheme or port`,
      );
    }
  }
  const timeoutMs = int(env, "CONCORD_HTTP_TIMEOUT_MS", 3_000, 1);
  if (timeoutMs > MAX_HTTP_TIMEOUT_MS) {
    throw new ConfigError(
      `CONCORD_HTTP_TIMEOUT_MS must be at most ${MAX_HTTP_TIMEOUT_MS} (the dispatcher function times out at 10 s), got ${timeoutMs}`,
    );
  }
  const secret = env.CONCORD_HTTP_PARTICIPANT_SECRET?.trim();
  if (secret !== undefined && secret !== "" && secret.length < 32) {
    throw new ConfigError("CONCORD_HTTP_PARTICIPANT_SECRET must be at least 32 characters (a random string)");
  }
  return {
    allowedHosts,
    allowPrivate: bool(env, "CONCORD_HTTP_PARTICIPANT_ALLOW_PRIVATE"),
    timeoutMs,
    ...(secret ? { secret } : {}),
  };
}

const PARTICIPANT_NAME = /^[a-z][a-z0-9-]{0,39}$/;

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const prefix = env.CONCORD_PREFIX ?? "concord";
  if (!/^[A-Za-z0-9_-]{1,40}$/.test(prefix))
    throw new ConfigError(`CONCORD_PREFIX "${prefix}" is not a valid name`);
  const serverCount = int(env, "CONCORD_BANK_SERVER_COUNT", 3, 1);
  const bankServers = env.CONCORD_BANK_SERVERS
    ? list(env.CONCORD_BANK_SERVERS)
    : Array.from({ length: serverCount }, (_, i) => `bank-${i + 1}`);
  for (const s of bankServers) {
    if (!PARTICIPANT_NAME.test(s))
      throw new ConfigError(`bank server name "${s}" must match ${PARTICIPANT_NAME}`);
  }
  const commerce = commerceParticipants(env);
  for (const name of commerce) {
    if (bankServers.includes(name))
      throw new ConfigError(
        `"${name}" names a bank server and an e-commerce participant; rename the bank server`,
      );
  }
  const sweepIntervalSeconds = int(env, "CONCORD_SWEEP_INTERVAL_SECONDS", 60, 1);
  const timers: TimerSettings = {
    tickMs: int(env, "CONCORD_TIMER_TICK_MS", 1_000, 50),
    runSeconds: int(env, "CONCORD_SCHEDULED_RUN_SECONDS", sweepIntervalSeconds + 5, 0),
  };
  if (timers.runSeconds > MAX_SCHEDULED_RUN_SECONDS) {
    throw new ConfigError(
      `CONCORD_SCHEDULED_RUN_SECONDS must be at most ${MAX_SCHEDULED_RUN_SECONDS} (Lambda stops a function at 900 s), got ${timers.runSeconds}`,
    );
  }
  const lockPolicy = env.CONCORD_LOCK_POLICY ?? "wait-die";
  if (!isLockPolicy(lockPolicy)) {
    throw new ConfigError(`CONCORD_LOCK_POLICY must be wait-die, no-wait or detect, got "${lockPolicy}"`);
  }
  const dynamodb = env.AWS_ENDPOINT_URL_DYNAMODB ?? env.AWS_ENDPOINT_URL;
  const sqs = env.AWS_ENDPOINT_URL_SQS ?? env.AWS_ENDPOINT_URL;
  const retentionSeconds = int(env, "CONCORD_RETENTION_SECONDS", 15 * 86_400, 60);
  const maxTimeoutMs = int(env, "CONCORD_MAX_TIMEOUT_MS", 24 * 3_600_000, 1);
  // A settled barrier must outlive every message about its transaction: the
  // deadline plus the longest an SQS message can wait (14 days).
  if (retentionSeconds < Math.ceil(maxTimeoutMs / 1000) + SQS_MAX_RETENTION_SECONDS) {
    throw new ConfigError(
      `CONCORD_RETENTION_SECONDS (${retentionSeconds}) must be at least CONCORD_MAX_TIMEOUT_MS in seconds plus 14 days (${Math.ceil(maxTimeoutMs / 1000) + SQS_MAX_RETENTION_SECONDS})`,
    );
  }
  return {
    region: env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? "us-east-1",
    endpoints: { ...(dynamodb ? { dynamodb } : {}), ...(sqs ? { sqs } : {}) },
    topology: buildTopology({
      prefix,
      bankServers,
      commerceParticipants: commerce,
      dueShards: int(env, "CONCORD_DUE_SHARDS", 4, 1),
      sweepIntervalSeconds,
      scheduledRunSeconds: timers.runSeconds,
    }),
    bankServers,
    apiKeys: list(env.CONCORD_API_KEYS),
    adminKeys: list(env.CONCORD_ADMIN_KEYS),
    timers,
    timing: {
      defaultTimeoutMs: int(env, "CONCORD_DEFAULT_TIMEOUT_MS", 60_000, 1),
      maxTimeoutMs,
      prepareRetryMs: int(env, "CONCORD_PREPARE_RETRY_MS", 5_000, 1),
      decisionRetryMs: int(env, "CONCORD_DECISION_RETRY_MS", 5_000, 1),
      waitingRetryMs: int(env, "CONCORD_WAITING_RETRY_MS", 30_000, 1),
      backoffCapMs: int(env, "CONCORD_BACKOFF_CAP_MS", 30_000, 1),
      stalledAfterAttempts: int(env, "CONCORD_STALLED_AFTER_ATTEMPTS", 10, 1),
      retentionSeconds,
    },
    participants: {
      lockPolicy,
      lockWaitBudgetMs: int(env, "CONCORD_LOCK_WAIT_BUDGET_MS", 2_000, 0),
      inDoubtAfterMs: int(env, "CONCORD_IN_DOUBT_AFTER_MS", 30_000, 1),
    },
    commerce: {
      participants: commerce,
      payment: {
        failureRate: rate(env, "CONCORD_PAYMENT_FAILURE_RATE"),
        latencyMs: int(env, "CONCORD_PAYMENT_LATENCY_MS", 0, 0),
      },
    },
    http: httpSettings(env),
  };
}
