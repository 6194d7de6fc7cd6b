/**
 * Design §3: the OpenAPI document, `/docs`, `/ready` and `X-Request-Id`, on a
 * running stack (the emulators the suite starts).
 */
import { Validator } from "@seriousme/openapi-schema-validator";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type * as z from "zod";
import { createReadiness } from "../../src/api/readiness.ts";
import { transactionPage, transactionView } from "../../src/api/response-schemas.ts";
import { type LogEntry, RecordingLogger } from "../../testkit/logging.ts";
import { type Stack, startStack } from "../helpers/stack.ts";

const ADMIN = "admin-key-for-reference";
const CLIENT = "client-key-for-reference";
const logs: LogEntry[] = [];
let stack: Stack;
beforeAll(async () => {
  stack = await startStack({
    log: new RecordingLogger((e) => logs.push(e)),
    env: { CONCORD_API_KEYS: CLIENT, CONCORD_ADMIN_KEYS: ADMIN },
  });
});
afterAll(() => stack?.stop());

const app = () => stack.runtime.roles.of("api").http;
const get = (path: string, key?: string, headers: Record<string, string> = {}) =>
  app().request(path, { headers: { ...(key ? { Authorization: `Bearer ${key}` } : {}), ...headers } });

type Operation = {
  operationId: string;
  security: Record<string, string[]>[];
  parameters: { name: string; in: string }[];
  responses: Record<string, unknown>;
};
type Doc = {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: { securitySchemes: Record<string, { scheme: string }>; schemas: Record<string, unknown> };
};
const documentOf = async () => (await (await get("/openapi.json")).json()) as Doc;

/** Served, but pages and assets rather than API operations. */
const PAGES = /^get \/(ui(\/(transactions\/\{id\}|participants|metrics|assets\/.*))?|docs(\/.*)?)$/;

describe("GET /openapi.json", () => {
  it("is a valid OpenAPI 3.1 document", async () => {
    const res = await get("/openapi.json");
    expect(res.status).toBe(200);
    const doc = await res.json();
    expect((doc as Doc).openapi).toBe("3.1.0");
    const result = await new Validator().validate(doc as never);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it("holds every route the app serves, and nothing it does not", async () => {
    const doc = await documentOf();
    const served = new Set(
      app()
        .routes.filter((r) => r.method !== "ALL")
        .map((r) => `${r.method.toLowerCase()} ${r.path.replace(/:([A-Za-z_]+)/g, "{$1}")}`),
    );
    const documented = new Set(
      Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m} ${path}`)),
    );
    expect([...served].filter((r) => !documented.has(r) && !PAGES.test(r))).toEqual([]);
    expect([...documented].filter((r) => !served.has(r))).toEqual([]);
    for (const r of [
      "get /health",
      "get /ready",
      "get /metrics",
      "get /ui/api/session",
      "get /openapi.json",
    ]) {
      expect(documented).toContain(r);
    }
  });

  it("documents the auth scheme and every error status, and each operation's access is what the app enforces", async () => {
    const doc = await documentOf();
    expect(doc.components.securitySchemes.apiKey?.scheme).toBe("bearer");
    const abort = doc.paths["/v1/transactions/{id}/abort"]?.post;
    expect(abort?.security).toEqual([{ apiKey: ["admin"] }]);
    expect(Object.keys(abort?.responses ?? {})).toEqual(
      expect.arrayContaining(["200", "401", "403", "404", "409", "500"]),
    );
    expect(Object.keys(doc.paths["/v1/transfers"]?.post?.responses ?? {})).toEqual(
      expect.arrayContaining(["201", "202", "400", "401", "413", "503"]),
    );
    // Every GET without path parameters: no key → 401 exactly when the document asks for one,
    // a client key → 403 exactly when it asks for the admin role.
    for (const [path, ops] of Object.entries(doc.paths)) {
      const op = ops.get;
      if (!op || path.includes("{")) continue;
      const needsKey = op.security.length > 0;
      const needsAdmin = op.security.some((s) => s.apiKey?.includes("admin"));
      expect((await get(path)).status === 401, `${path} without a key`).toBe(needsKey);
      expect((await get(path, CLIENT)).status === 403, `${path} with a client key`).toBe(needsAdmin);
    }
  });

  it("describes what the routes answer: real answers parse with the documented schemas", async () => {
    await stack.request(
      "PUT",
      "/v1/bank/bank-1/accounts/ref-a",
      { balance: 100 },
      { Authorization: `Bearer ${ADMIN}` },
    );
    await stack.request(
      "PUT",
      "/v1/bank/bank-2/accounts/ref-b",
      { balance: 0 },
      { Authorization: `Bearer ${ADMIN}` },
    );
    const started = await stack.request(
      "POST",
      "/v1/transfers?wait=5000",
      [
        { server_id: "bank-1", account_id: "ref-a", operation: "withdraw", amount: 5 },
        { server_id: "bank-2", account_id: "ref-b", operation: "deposit", amount: 5 },
      ],
      { Authorization: `Bearer ${CLIENT}` },
    );
    const strict = <T extends z.ZodType>(schema: T, value: unknown) => {
      const parsed = schema.safeParse(value);
      expect(parsed.error?.issues ?? []).toEqual([]);
    };
    const view = (await started.json()) as { id: string };
    strict(transactionView, view);
    strict(transactionView, await (await get(`/v1/transactions/${view.id}`, CLIENT)).json());
    strict(transactionPage, await (await get("/v1/transactions?limit=5", CLIENT)).json());
  });
});

describe("GET /docs", () => {
  it("is a reference rendered from the document, from this origin only, under the strict policy", async () => {
    const page = await get("/docs");
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain("POST</span> <code>/v1/transactions</code>");
    expect(html).toContain('id="schema-TransactionView"');
    expect(html).toContain('<form class="try" data-method="POST" data-path="/v1/transfers">');
    // Nothing from elsewhere: every src and href is this origin's.
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    expect(page.headers.get("content-security-policy")).toMatch(/script-src 'self'/);
    expect((await get("/docs/reference.js")).status).toBe(200);
    // Values from the document are escaped: a pattern's `<` or `&` cannot open a tag.
    expect(html).not.toMatch(/<script>/);
  });
});

describe("GET /ready", () => {
  it("is 200 while DynamoDB and SQS answer", async () => {
    const res = await get("/ready");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ready", failing: [] });
  });

  it("names the dependency that does not answer, within the bound", async () => {
    const never = (signal: AbortSignal) =>
      new Promise((_, reject) => signal.addEventListener("abort", () => reject(new Error("timed out"))));
    const ready = createReadiness({
      probes: { dynamodb: async () => undefined, sqs: never },
      timeoutMs: 200,
    });
    const started = Date.now();
    expect(await ready()).toEqual(["sqs"]);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it("asks each dependency at most once per second however many probes come", async () => {
    let calls = 0;
    let now = 0;
    const ready = createReadiness({
      probes: { dynamodb: async () => calls++, sqs: async () => undefined },
      clock: () => now,
    });
    await Promise.all([ready(), ready(), ready()]);
    now = 999;
    await ready();
    expect(calls).toBe(1);
    now = 1_000;
    await ready();
    expect(calls).toBe(2);
  });
});

describe("X-Request-Id", () => {
  it("echoes a sane id the client sends, on success and on errors", async () => {
    for (const path of ["/health", "/v1/transactions/nope", "/v1/transactions"]) {
      const res = await get(path, undefined, { "X-Request-Id": "client-req-42" });
      expect(res.headers.get("x-request-id"), path).toBe("client-req-42");
    }
  });

  it("generates one when the client sends none", async () => {
    const a = (await get("/health")).headers.get("x-request-id");
    const b = (await get("/health")).headers.get("x-request-id");
    expect(a).toMatch(/^[0-9a-f-]{36}$/);
    expect(b).not.toBe(a);
  });

  it.each([
    ["too long", "r".repeat(129)],
    ["a log-injection attempt", 'abc\\u000a{"level":"ERROR"}'],
    ["spaces and quotes", 'a b"c'],
  ])("replaces a hostile one (%s)", async (_, sent) => {
    const res = await get("/health", undefined, { "X-Request-Id": sent });
    const got = res.headers.get("x-request-id");
    expect(got).not.toBe(sent);
    expect(got).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("is in the log lines of its request", async () => {
    await stack.request(
      "POST",
      "/v1/transactions",
      {
        protocol: "2pc",
        branches: [{ participant: "bank-1", action: "deposit", input: { account: "ref-log", amount: 1 } }],
      },
      { Authorization: `Bearer ${CLIENT}`, "X-Request-Id": "req-logged-1", "Idempotency-Key": "ref-log-tx" },
    );
    const lines = logs.filter((e) => e.keys.requestId === "req-logged-1");
    expect(lines.map((e) => e.message)).toEqual(expect.arrayContaining(["transaction started", "answered"]));
    // The transaction's own lines carry both ids.
    expect(lines.find((e) => e.message === "transaction started")?.keys.txId).toEqual(expect.any(String));
    // And the trace the request started, which its messages carry on to every role.
    expect(lines.every((e) => /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/.test(String(e.keys.traceparent)))).toBe(
      true,
    );
  });
});
