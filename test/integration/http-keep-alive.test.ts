/**
 * A request the API refuses for its size must not break the client's next one
 * on the same keep-alive connection: on a real listening server (the local
 * runtime's @hono/node-server on 127.0.0.1), with Node's fetch and with an
 * http.Agent that keeps one socket alive.
 */
import { randomUUID } from "node:crypto";
import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.ts";
import { type Runtime, startRuntime } from "../../src/local/runtime.ts";
import { silentLogger } from "../../testkit/logging.ts";
import { testEnv } from "../helpers/stack.ts";

const TWO_MIB = 2 * 1024 * 1024;

let runtime: Runtime;
let url: string;
beforeAll(async () => {
  const config = loadConfig(
    testEnv(`k${randomUUID().slice(0, 12)}`, { CONCORD_COMMERCE_PARTICIPANTS: "none" }),
  );
  runtime = await startRuntime({ config, provision: true, roles: ["api"], port: 0, log: silentLogger() });
  if (!runtime.url) throw new Error("the API is not listening");
  url = runtime.url;
}, 60_000);
afterAll(() => runtime?.stop());

interface Answer {
  readonly status: number;
  readonly body: string;
  readonly connection: string | undefined;
}

/** One request through `agent`, the body sent whole (with its Content-Length) or in chunks. */
function send(
  agent: http.Agent,
  method: string,
  path: string,
  body?: { readonly bytes: number; readonly chunked?: boolean },
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const payload = body ? Buffer.alloc(body.bytes, "x") : undefined;
    const req = http.request(
      `${url}${path}`,
      {
        method,
        agent,
        headers: {
          "content-type": "application/json",
          ...(payload && !body?.chunked ? { "content-length": String(payload.length) } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString(),
            connection: res.headers.connection,
          }),
        );
        res.on("error", reject);
      },
    );
    // The server may answer and stop reading before the whole body is out: not the client's failure.
    req.on("error", (err) => (payload ? undefined : reject(err)));
    if (!payload) {
      req.end();
      return;
    }
    if (!body?.chunked) {
      req.end(payload);
      return;
    }
    for (let i = 0; i < payload.length; i += 64 * 1024) req.write(payload.subarray(i, i + 64 * 1024));
    req.end();
  });
}

describe("after a 413 for a body too large, the next request on the connection", () => {
  it.each([
    { how: "with a Content-Length", chunked: false },
    { how: "sent in chunks", chunked: true },
  ])("succeeds through a keep-alive http.Agent (a 2 MiB body $how)", async ({ chunked }) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const refused = await send(agent, "POST", "/v1/transfers", { bytes: TWO_MIB, chunked });
      expect(refused.status).toBe(413);
      expect(JSON.parse(refused.body)).toMatchObject({ error: { code: "payload_too_large" } });
      // The client is told the connection ends, so it opens a new one for the next request.
      expect(refused.connection).toBe("close");
      for (let i = 0; i < 3; i++) {
        const next = await send(agent, "GET", "/health");
        expect(next).toMatchObject({ status: 200, body: '{"status":"ok"}' });
      }
    } finally {
      agent.destroy();
    }
  });

  it("succeeds with Node's fetch (undici's pooled keep-alive connections)", async () => {
    const refused = await fetch(`${url}/v1/transfers`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "x".repeat(TWO_MIB),
    });
    expect(refused.status).toBe(413);
    expect(await refused.json()).toMatchObject({ error: { code: "payload_too_large" } });
    for (let i = 0; i < 3; i++) {
      const next = await fetch(`${url}/health`);
      expect(next.status).toBe(200);
      expect(await next.json()).toEqual({ status: "ok" });
    }
  });

  it("a body within the limit keeps the connection alive", async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const small = await send(agent, "POST", "/v1/transfers", { bytes: 10 });
      expect(small.status).toBe(400);
      expect(small.connection).toBe("keep-alive");
      expect(await send(agent, "GET", "/health")).toMatchObject({ status: 200 });
    } finally {
      agent.destroy();
    }
  });
});
