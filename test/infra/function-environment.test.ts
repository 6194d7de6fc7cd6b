import { describe, expect, it } from "vitest";
import { API_KEYS_SECRET_VARIABLE, functionEnvironment } from "../../infra/cdk/function-environment.ts";
import { loadConfig } from "../../src/config.ts";

/** What a function sees: the stack's environment, through the same loadConfig. */
const roundTrip = (env: NodeJS.ProcessEnv) => {
  const config = loadConfig(env);
  return { config, deployed: functionEnvironment(config, env) };
};

describe("the environment the stack gives every function", () => {
  it("rebuilds the topology the stack was generated from, whatever shaped it", () => {
    const { config, deployed } = roundTrip({
      CONCORD_PREFIX: "shop",
      CONCORD_BANK_SERVER_COUNT: "2",
      CONCORD_DUE_SHARDS: "8",
      CONCORD_SWEEP_INTERVAL_SECONDS: "120",
    });
    expect(deployed).toMatchObject({
      CONCORD_PREFIX: "shop",
      CONCORD_BANK_SERVERS: "bank-1,bank-2",
      CONCORD_DUE_SHARDS: "8",
      CONCORD_SWEEP_INTERVAL_SECONDS: "120",
    });
    expect(deployed.CONCORD_BANK_SERVER_COUNT).toBeUndefined();
    expect(loadConfig(deployed).topology).toEqual(config.topology);
  });

  it("carries only the functions' own settings, not another CONCORD_* variable of the deploying shell", () => {
    const { deployed } = roundTrip({ CONCORD_LOCK_POLICY: "detect", CONCORD_REQUIRE_BROWSER: "1" });
    expect(deployed.CONCORD_LOCK_POLICY).toBe("detect");
    expect(deployed.CONCORD_REQUIRE_BROWSER).toBeUndefined();
  });

  it("names the e-commerce participants the stack runs, none included", () => {
    for (const [given, written] of [
      [undefined, "inventory,payment,order,shipping"],
      ["order,inventory", "order,inventory"],
      ["none", "none"],
    ] as const) {
      const { config, deployed } = roundTrip(given ? { CONCORD_COMMERCE_PARTICIPANTS: given } : {});
      expect(deployed.CONCORD_COMMERCE_PARTICIPANTS).toBe(written);
      expect(loadConfig(deployed).topology).toEqual(config.topology);
    }
  });

  it("carries the deployer's other settings, so functions run as configured", () => {
    const { config, deployed } = roundTrip({
      CONCORD_PREPARE_RETRY_MS: "1234",
      CONCORD_LOG_LEVEL: "DEBUG",
      CONCORD_HTTP_PARTICIPANT_HOSTS: "*.partners.example",
      CONCORD_HTTP_TIMEOUT_MS: "2000",
    });
    expect(deployed.CONCORD_LOG_LEVEL).toBe("DEBUG");
    expect(loadConfig(deployed).http).toEqual({
      allowedHosts: ["*.partners.example"],
      allowPrivate: false,
      timeoutMs: 2000,
    });
    expect(loadConfig(deployed).timing).toEqual(config.timing);
    expect(loadConfig(deployed).timing.prepareRetryMs).toBe(1234);
  });

  it("never carries API keys, secrets, local-only or fault-injection settings", () => {
    const { deployed } = roundTrip({
      CONCORD_API_KEYS: "client-key",
      CONCORD_ADMIN_KEYS: "admin-key",
      [API_KEYS_SECRET_VARIABLE]: "arn:aws:secretsmanager:us-east-1:1:secret:x",
      CONCORD_WEBHOOK_TOKEN: "t",
      CONCORD_DATA_DIR: "/tmp/x",
      CONCORD_CRASH_AT: "after-decision-before-send",
      // `npm start` allows loopback participants; a deployed dispatcher never calls them.
      CONCORD_HTTP_PARTICIPANT_ALLOW_PRIVATE: "true",
      AWS_SECRET_ACCESS_KEY: "aws-secret",
      PATH: "/usr/bin",
    });
    expect(Object.keys(deployed).sort()).toEqual([
      "CONCORD_BANK_SERVERS",
      "CONCORD_COMMERCE_PARTICIPANTS",
      "CONCORD_DUE_SHARDS",
      "CONCORD_PREFIX",
      "CONCORD_SWEEP_INTERVAL_SECONDS",
    ]);
  });
});
