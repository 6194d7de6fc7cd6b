/** The environment schema: what each variable defaults to, how it is read, what it refuses and says. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.ts";
import { configReference, ENV_VARIABLES } from "../../src/env-schema.ts";

describe("defaults", () => {
  const config = loadConfig({});

  it.each([
    ["region", config.region, "us-east-1"],
    ["endpoints", config.endpoints, {}],
    ["prefix", config.topology.prefix, "concord"],
    ["bank servers", config.bankServers, ["bank-1", "bank-2", "bank-3"]],
    ["e-commerce participants", config.commerce.participants, ["inventory", "payment", "order", "shipping"]],
    ["due shards", config.topology.dueShards, 4],
    ["api keys", [config.apiKeys, config.adminKeys], [[], []]],
    ["timers", config.timers, { tickMs: 1000, runSeconds: 65 }],
    [
      "timing",
      config.timing,
      {
        defaultTimeoutMs: 60_000,
        maxTimeoutMs: 86_400_000,
        prepareRetryMs: 5000,
        decisionRetryMs: 5000,
        waitingRetryMs: 30_000,
        backoffCapMs: 30_000,
        stalledAfterAttempts: 10,
        retentionSeconds: 1_296_000,
      },
    ],
    [
      "participants",
      config.participants,
      {
        lockPolicy: "wait-die",
        lockMode: "escrow",
        lockWaitBudgetMs: 0,
        inDoubtAfterMs: 30_000,
        queuedAnswers: false,
        selfDelivery: true,
        commitWithDecision: true,
        voteWithPrepare: true,
      },
    ],
    ["payment", config.commerce.payment, { failureRate: 0, latencyMs: 0 }],
    ["http", config.http, { allowedHosts: [], allowPrivate: false, timeoutMs: 3000 }],
    ["credentials", config.credentials, undefined],
    ["log", config.log, { level: "INFO" }],
    ["lambda", config.lambda, {}],
    ["local", config.local, { dataDir: ".concord/data", visibilityTimeoutSeconds: 10 }],
    ["faults", config.faults, {}],
  ])("%s", (_, actual, expected) => {
    expect(actual).toEqual(expected);
  });
});

describe("reading", () => {
  it.each([
    [{ CONCORD_BANK_SERVER_COUNT: "2" }, (c) => c.bankServers, ["bank-1", "bank-2"]],
    [{ CONCORD_BANK_SERVERS: " a , b,,c " }, (c) => c.bankServers, ["a", "b", "c"]],
    [{ CONCORD_COMMERCE_PARTICIPANTS: "none" }, (c) => c.commerce.participants, []],
    [
      { CONCORD_COMMERCE_PARTICIPANTS: "order,order,payment" },
      (c) => c.commerce.participants,
      ["order", "payment"],
    ],
    [{ CONCORD_SWEEP_INTERVAL_SECONDS: "120" }, (c) => c.timers.runSeconds, 125],
    [{ CONCORD_SCHEDULED_RUN_SECONDS: "0" }, (c) => c.timers.runSeconds, 0],
    [{ CONCORD_PREPARE_RETRY_MS: " 250 " }, (c) => c.timing.prepareRetryMs, 250],
    [{ CONCORD_PREPARE_RETRY_MS: "" }, (c) => c.timing.prepareRetryMs, 5000],
    [{ CONCORD_PAYMENT_FAILURE_RATE: "0.25" }, (c) => c.commerce.payment.failureRate, 0.25],
    [{ CONCORD_HTTP_PARTICIPANT_ALLOW_PRIVATE: "TRUE" }, (c) => c.http.allowPrivate, true],
    [{ CONCORD_HTTP_PARTICIPANT_ALLOW_PRIVATE: "0" }, (c) => c.http.allowPrivate, false],
    [{ CONCORD_API_KEYS: "k1, k2" }, (c) => c.apiKeys, ["k1", "k2"]],
    [{ AWS_DEFAULT_REGION: "eu-west-1" }, (c) => c.region, "eu-west-1"],
    [{ AWS_REGION: "eu-west-2", AWS_DEFAULT_REGION: "eu-west-1" }, (c) => c.region, "eu-west-2"],
    [{ AWS_ENDPOINT_URL: "http://x:1" }, (c) => c.endpoints, { dynamodb: "http://x:1", sqs: "http://x:1" }],
    [
      { AWS_ENDPOINT_URL: "http://x:1", AWS_ENDPOINT_URL_SQS: "http://q:2" },
      (c) => c.endpoints,
      { dynamodb: "http://x:1", sqs: "http://q:2" },
    ],
    [{ AWS_ENDPOINT_URL: "http://x:1" }, (c) => c.lambda.secretsManagerEndpoint, "http://x:1"],
    [
      { AWS_ACCESS_KEY_ID: "id", AWS_SECRET_ACCESS_KEY: "s" },
      (c) => c.credentials,
      { accessKeyId: "id", secretAccessKey: "s" },
    ],
    [{ AWS_ACCESS_KEY_ID: "id" }, (c) => c.credentials, undefined],
    [{ POWERTOOLS_LOG_LEVEL: "debug" }, (c) => c.log.level, "DEBUG"],
    [{ CONCORD_LOG_LEVEL: "error", POWERTOOLS_LOG_LEVEL: "DEBUG" }, (c) => c.log.level, "ERROR"],
    [{ CONCORD_PARTICIPANT: "bank-2" }, (c) => c.lambda.participant, "bank-2"],
    [{ CONCORD_LOCAL_MAX_RECEIVE_COUNT: "3" }, (c) => c.local.maxReceiveCount, 3],
    [{ CONCORD_DATA_DIR: "/tmp/d" }, (c) => c.local.dataDir, "/tmp/d"],
    [
      { CONCORD_CRASH_AT: "before-commit:2" },
      (c) => c.faults.crashAt?.get("before-commit"),
      { action: "kill", onHit: 2 },
    ],
    [{ CONCORD_FAULTS: ' {"seed":3,"drop":0.5} ' }, (c) => c.faults.planText, '{"seed":3,"drop":0.5}'],
  ] satisfies [Record<string, string>, (c: ReturnType<typeof loadConfig>) => unknown, unknown][])(
    "%o",
    (env, pick, expected) => {
      expect(pick(loadConfig(env))).toEqual(expected);
    },
  );
});

describe("bounds and messages", () => {
  it.each([
    [{ CONCORD_PREFIX: "no spaces" }, 'CONCORD_PREFIX "no spaces" is not a valid name'],
    [{ CONCORD_BANK_SERVER_COUNT: "0" }, 'CONCORD_BANK_SERVER_COUNT must be an integer >= 1, got "0"'],
    [{ CONCORD_BANK_SERVERS: "Bank_1" }, 'CONCORD_BANK_SERVERS names "Bank_1"'],
    [
      { CONCORD_BANK_SERVERS: "bank-1,payment" },
      'CONCORD_BANK_SERVERS names "payment", an e-commerce participant',
    ],
    [{ CONCORD_COMMERCE_PARTICIPANTS: "books" }, 'CONCORD_COMMERCE_PARTICIPANTS names "books"'],
    [{ CONCORD_DUE_SHARDS: "0" }, "CONCORD_DUE_SHARDS must be an integer >= 1"],
    [{ CONCORD_SWEEP_INTERVAL_SECONDS: "0" }, "CONCORD_SWEEP_INTERVAL_SECONDS must be an integer >= 1"],
    [{ CONCORD_SWEEP_INTERVAL_SECONDS: "900" }, "CONCORD_SCHEDULED_RUN_SECONDS must be at most 840"],
    [{ CONCORD_TIMER_TICK_MS: "49" }, "CONCORD_TIMER_TICK_MS must be an integer >= 50"],
    [{ CONCORD_SCHEDULED_RUN_SECONDS: "-1" }, "CONCORD_SCHEDULED_RUN_SECONDS must be an integer >= 0"],
    [{ CONCORD_SCHEDULED_RUN_SECONDS: "841" }, "CONCORD_SCHEDULED_RUN_SECONDS must be at most 840"],
    [{ CONCORD_DEFAULT_TIMEOUT_MS: "0" }, "CONCORD_DEFAULT_TIMEOUT_MS must be an integer >= 1"],
    [{ CONCORD_MAX_TIMEOUT_MS: "1.5" }, 'CONCORD_MAX_TIMEOUT_MS must be an integer >= 1, got "1.5"'],
    [{ CONCORD_PREPARE_RETRY_MS: "5s" }, 'CONCORD_PREPARE_RETRY_MS must be an integer >= 1, got "5s"'],
    [{ CONCORD_DECISION_RETRY_MS: "0" }, "CONCORD_DECISION_RETRY_MS must be an integer >= 1"],
    [{ CONCORD_WAITING_RETRY_MS: "0" }, "CONCORD_WAITING_RETRY_MS must be an integer >= 1"],
    [{ CONCORD_BACKOFF_CAP_MS: "0" }, "CONCORD_BACKOFF_CAP_MS must be an integer >= 1"],
    [{ CONCORD_STALLED_AFTER_ATTEMPTS: "0" }, "CONCORD_STALLED_AFTER_ATTEMPTS must be an integer >= 1"],
    [{ CONCORD_RETENTION_SECONDS: "59" }, "CONCORD_RETENTION_SECONDS must be an integer >= 60"],
    [
      { CONCORD_RETENTION_SECONDS: "86400" },
      "CONCORD_RETENTION_SECONDS (86400) must be at least CONCORD_MAX_TIMEOUT_MS",
    ],
    [
      { CONCORD_LOCK_POLICY: "wound-wait" },
      'CONCORD_LOCK_POLICY must be wait-die, no-wait, detect, got "wound-wait"',
    ],
    [{ CONCORD_LOCK_WAIT_BUDGET_MS: "-1" }, "CONCORD_LOCK_WAIT_BUDGET_MS must be an integer >= 0"],
    [{ CONCORD_IN_DOUBT_AFTER_MS: "0" }, "CONCORD_IN_DOUBT_AFTER_MS must be an integer >= 1"],
    [{ CONCORD_PAYMENT_FAILURE_RATE: "1.5" }, "CONCORD_PAYMENT_FAILURE_RATE must be a number from 0 to 1"],
    [{ CONCORD_PAYMENT_FAILURE_RATE: "-0.1" }, "CONCORD_PAYMENT_FAILURE_RATE must be a number from 0 to 1"],
    [{ CONCORD_PAYMENT_LATENCY_MS: "-1" }, "CONCORD_PAYMENT_LATENCY_MS must be an integer >= 0"],
    [{ CONCORD_HTTP_PARTICIPANT_HOSTS: "https://a.example" }, "CONCORD_HTTP_PARTICIPANT_HOSTS names"],
    [
      { CONCORD_HTTP_PARTICIPANT_ALLOW_PRIVATE: "yes" },
      'CONCORD_HTTP_PARTICIPANT_ALLOW_PRIVATE must be true or false, got "yes"',
    ],
    [{ CONCORD_HTTP_TIMEOUT_MS: "0" }, "CONCORD_HTTP_TIMEOUT_MS must be an integer >= 1"],
    [{ CONCORD_HTTP_TIMEOUT_MS: "8001" }, "CONCORD_HTTP_TIMEOUT_MS must be at most 8000"],
    [
      { CONCORD_HTTP_PARTICIPANT_SECRET: "short" },
      "CONCORD_HTTP_PARTICIPANT_SECRET must be at least 32 characters",
    ],
    [{ CONCORD_LOG_LEVEL: "loud" }, "CONCORD_LOG_LEVEL must be one of"],
    [
      { CONCORD_LOCAL_VISIBILITY_TIMEOUT_SECONDS: "43201" },
      "CONCORD_LOCAL_VISIBILITY_TIMEOUT_SECONDS must be at most 43200",
    ],
    [
      { CONCORD_LOCAL_VISIBILITY_TIMEOUT_SECONDS: "ten" },
      "CONCORD_LOCAL_VISIBILITY_TIMEOUT_SECONDS must be an integer >= 0",
    ],
    [{ CONCORD_LOCAL_MAX_RECEIVE_COUNT: "0" }, "CONCORD_LOCAL_MAX_RECEIVE_COUNT must be an integer >= 1"],
    [{ CONCORD_LOCAL_MAX_RECEIVE_COUNT: "1001" }, "CONCORD_LOCAL_MAX_RECEIVE_COUNT must be at most 1000"],
    [{ CONCORD_CRASH_AT: "nowhere" }, 'CONCORD_CRASH_AT names "nowhere"'],
    [
      { CONCORD_CRASH_AT: "before-commit:0" },
      'CONCORD_CRASH_AT "before-commit:0": the hit count must be a positive integer',
    ],
    [{ CONCORD_FAULTS: "{" }, "CONCORD_FAULTS is not JSON"],
  ])("refuses %o", (env, message) => {
    const load = () => loadConfig(env);
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(message);
  });
});

describe("the configuration reference in docs/deploy.md", () => {
  const doc = readFileSync(join(import.meta.dirname, "../../docs/deploy.md"), "utf8");
  const block = /<!-- config-reference:begin -->\n([\s\S]*?)\n<!-- config-reference:end -->/.exec(doc)?.[1];

  it("is the table the schema renders, so it names every variable concord reads and no other", () => {
    expect(block, "docs/deploy.md lacks the config-reference markers").toBeDefined();
    expect(block).toBe(configReference());
    const named = [...(block ?? "").matchAll(/^\| `([A-Z0-9_]+)` \|/gm)].map((m) => m[1]);
    expect(named).toEqual(ENV_VARIABLES);
  });
});
