/**
 * The dispatcher's signing secret on Lambda: read from Secrets Manager once,
 * cached in the warm function, read again at most every refresh interval (so a
 * rotation reaches every call within it), the last value kept through a failed
 * read, and never an unsigned call for want of one. And the dispatcher signs
 * each call with what the source gives at that moment.
 */
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.ts";
import type { ParticipantMessage } from "../../src/core/messages.ts";
import { createDispatcher } from "../../src/http-participants/dispatcher.ts";
import type { HttpCall } from "../../src/http-participants/http-call.ts";
import {
  refreshingSecret,
  SECRET_REFRESH_MS,
  SECRET_RETRY_MS,
  SigningSecretUnavailableError,
} from "../../src/http-participants/signing-secret.ts";
import { type LogEntry, RecordingLogger } from "../../testkit/logging.ts";

function source(values: (string | Error)[]) {
  let now = 0;
  let reads = 0;
  const logged: LogEntry[] = [];
  const secret = refreshingSecret({
    read: async () => {
      const value = values[Math.min(reads++, values.length - 1)];
      if (value instanceof Error) throw value;
      return value as string;
    },
    clock: () => now,
    log: new RecordingLogger((e) => logged.push(e)),
  });
  return {
    secret,
    reads: () => reads,
    logged,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

describe("the signing secret on Lambda", () => {
  it("reads once, serves from the cache within the refresh interval, and reads again after it", async () => {
    const s = source(["first-secret", "rotated-secret"]);
    expect(await s.secret()).toBe("first-secret");
    s.advance(SECRET_REFRESH_MS - 1);
    expect(await s.secret()).toBe("first-secret");
    expect(s.reads()).toBe(1);
    s.advance(1);
    expect(await s.secret()).toBe("rotated-secret");
    expect(s.reads()).toBe(2);
  });

  it("shares one read among calls made at once", async () => {
    const s = source(["only-secret"]);
    expect(await Promise.all([s.secret(), s.secret(), s.secret()])).toEqual([
      "only-secret",
      "only-secret",
      "only-secret",
    ]);
    expect(s.reads()).toBe(1);
  });

  it("keeps signing with the last secret when a refresh fails, says so, and tries again after a short wait", async () => {
    const s = source(["first-secret", new Error("throttled"), "rotated-secret"]);
    await s.secret();
    s.advance(SECRET_REFRESH_MS);
    expect(await s.secret()).toBe("first-secret");
    expect(s.logged).toContainEqual(expect.objectContaining({ level: "warn" }));
    s.advance(SECRET_RETRY_MS - 1);
    expect(await s.secret()).toBe("first-secret");
    expect(s.reads()).toBe(2);
    s.advance(1);
    expect(await s.secret()).toBe("rotated-secret");
  });

  it("fails the call when it has never read the secret (the message is retried), and reads again next time", async () => {
    const s = source([new Error("AccessDenied"), "late-secret"]);
    await expect(s.secret()).rejects.toBeInstanceOf(SigningSecretUnavailableError);
    expect(await s.secret()).toBe("late-secret");
  });

  it("refuses an empty secret as it refuses none", async () => {
    const s = source([""]);
    await expect(s.secret()).rejects.toBeInstanceOf(SigningSecretUnavailableError);
  });
});

describe("the dispatcher's signature", () => {
  const commit: ParticipantMessage = { type: "commit", txId: "tx-1", participant: "ledger", startedAt: 1 };

  function dispatcherWith(secret: (() => Promise<string | undefined>) | undefined) {
    const calls: HttpCall[] = [];
    const dispatcher = createDispatcher({
      registry: {
        get: async () => ({
          name: "ledger",
          baseUrl: "https://ledger.example",
          protocols: ["2pc"],
          createdAt: 0,
          version: 1,
        }),
      },
      bus: { toCoordinator: async () => {}, toParticipant: async () => {} },
      call: async (call) => {
        calls.push(call);
        return { kind: "response", status: 200, body: "" };
      },
      policy: { allowedHosts: [], allowPrivate: false },
      timeoutMs: 1000,
      ...(secret ? { secret } : {}),
      clock: () => 0,
      log: new RecordingLogger(() => {}),
    });
    return { dispatcher, calls };
  }

  it("signs each call with the secret current at that call: a rotation is picked up without a restart", async () => {
    const s = source(["first-secret", "rotated-secret"]);
    const { dispatcher, calls } = dispatcherWith(s.secret);
    await dispatcher.handle(commit);
    s.advance(SECRET_REFRESH_MS);
    await dispatcher.handle(commit);
    expect(calls.map((c) => c.secret)).toEqual(["first-secret", "rotated-secret"]);
  });

  it("makes no call at all, rather than an unsigned one, when the secret cannot be read", async () => {
    const s = source([new Error("AccessDenied")]);
    const { dispatcher, calls } = dispatcherWith(s.secret);
    await expect(dispatcher.handle(commit)).rejects.toBeInstanceOf(SigningSecretUnavailableError);
    expect(calls).toEqual([]);
  });

  it("calls unsigned when no secret is configured", async () => {
    const { dispatcher, calls } = dispatcherWith(undefined);
    await dispatcher.handle(commit);
    expect(calls[0]?.secret).toBeUndefined();
  });
});

describe("the configuration", () => {
  it("refuses both a secret and the Secrets Manager secret that would hold it: which one signs would be a guess", () => {
    expect(() =>
      loadConfig({
        CONCORD_HTTP_PARTICIPANT_SECRET: "x".repeat(32),
        CONCORD_HTTP_PARTICIPANT_SECRET_ARN: "arn:aws:secretsmanager:us-east-1:1:secret:s",
      }),
    ).toThrow(ConfigError);
    expect(
      loadConfig({ CONCORD_HTTP_PARTICIPANT_SECRET_ARN: "arn:aws:secretsmanager:us-east-1:1:secret:s" }).http,
    ).toMatchObject({ secretArn: "arn:aws:secretsmanager:us-east-1:1:secret:s" });
  });
});
