import type { Logger } from "@aws-lambda-powertools/logger";
import type { Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import { requestId } from "hono/request-id";
import { isUnavailableError } from "../adapters/transient-errors.ts";
import { childSpan, parseTraceparent, startTrace, withTrace } from "../trace-context.ts";
import { type ApiKeys, apiKeyAuth, type Role } from "./auth.ts";
import { ApiError } from "./errors.ts";
import { openApiDocument } from "./openapi/document.ts";
import { REFERENCE_CSS, REFERENCE_SCRIPT, referencePage } from "./openapi/reference-page.ts";
import { type RouteSpec, RouteTable } from "./openapi/route-table.ts";
import type { Readiness } from "./readiness.ts";
import { health, readiness } from "./response-schemas.ts";
import { metricsRoutes } from "./routes/metrics.ts";
import { type ParticipantRoutesDeps, participantRoutes } from "./routes/participants.ts";
import { participantResourceRoutes, type ResourceMount } from "./routes/resources.ts";
import { type TransactionRoutesDeps, transactionRoutes } from "./routes/transactions.ts";
import { CONTENT_SECURITY_POLICY, dashboardRoutes } from "./ui/routes.ts";

export const MAX_BODY_BYTES = 1024 * 1024;
/** What a 503 asks the client to wait: the SDK has already spent its own backoff. */
export const RETRY_AFTER_SECONDS = 1;
/** A request id the client may choose: short, and of characters no log line can be bent by. */
export const REQUEST_ID_MAX = 128;

export interface ApiDeps extends Omit<TransactionRoutesDeps, "registry"> {
  /** The built-in participants' resources, one mount per kind this deployment runs. */
  readonly resources: readonly ResourceMount[];
  readonly keys: ApiKeys;
  readonly log: Logger;
  /**
   * The HTTP participant registry; without it, `/v1/participants` is not served
   * and transactions may name only built-in participants.
   */
  readonly participants?: ParticipantRoutesDeps;
  /** Prometheus text for `GET /metrics`; absent where metrics go to CloudWatch. */
  readonly scrapeMetrics?: () => Promise<string>;
  /** Which of DynamoDB and SQS do not answer now; without it `/ready` answers as `/health`. */
  readonly readiness?: Readiness;
}

/** Every request's logger carries its id (`requestId`), set before any route runs. */
export type ApiEnv = { Variables: { role: Role; requestId: string; log: Logger } };

const healthSpec = {
  method: "get",
  path: "/health",
  operationId: "getHealth",
  summary: "Liveness: the process answers",
  tag: "operations",
  access: "public",
  responses: { 200: { description: "Alive", schema: health } },
} as const satisfies RouteSpec;

const readySpec = {
  method: "get",
  path: "/ready",
  operationId: "getReady",
  summary: "Readiness: DynamoDB and SQS answer",
  description:
    "Each dependency is asked with one cheap call bounded by a timeout; one answer serves every probe for a second.",
  tag: "operations",
  access: "public",
  responses: {
    200: { description: "Ready", schema: readiness },
    503: { description: "Not ready: `failing` names what does not answer", schema: readiness },
  },
} as const satisfies RouteSpec;

const documentSpec = {
  method: "get",
  path: "/openapi.json",
  operationId: "getOpenApiDocument",
  summary: "This document (OpenAPI 3.1), generated from the schemas that validate",
  tag: "operations",
  access: "public",
  responses: { 200: { description: "The OpenAPI document", contentType: "application/json" } },
} as const satisfies RouteSpec;

const docsAsset = (path: string, operationId: string) =>
  ({
    method: "get",
    path,
    operationId,
    summary: "The API reference page and its assets",
    tag: "operations",
    access: "public",
    responses: { 200: { description: "HTML, script or stylesheet", contentType: "text/html" } },
    hidden: true,
  }) as const satisfies RouteSpec;

export const DOCUMENT_INFO = {
  title: "concord",
  version: "1",
  description:
    'A distributed transaction coordinator: two-phase commit and sagas over DynamoDB and SQS. Every error answers `{"error":{"code","message","details"?}}`; every answer carries `X-Request-Id` (the client\'s, when it sends one of at most 128 characters of A-Z a-z 0-9 _ - =).',
};

/** The HTTP API (design §3) as a Hono app: served locally, or wrapped as a Lambda function URL handler. */
export function createApp(deps: ApiDeps) {
  const root = new RouteTable<ApiEnv>();
  // Ids of at most REQUEST_ID_MAX of A-Z a-z 0-9 _ - = are honoured; any other is replaced.
  root.use(requestId({ limitLength: REQUEST_ID_MAX }));
  root.use(async (c, next) => {
    const log = deps.log.createChild({ persistentKeys: { requestId: c.get("requestId") } });
    c.set("log", log);
    const started = Date.now();
    // The client's trace continues here (or one starts): every message this request sends carries it.
    const traceparent = childSpan(parseTraceparent(c.req.header("traceparent")) ?? startTrace());
    c.header("traceparent", traceparent);
    await withTrace(traceparent, async () => {
      await next();
      // One line per request; probes' at debug, so that a load balancer's do not drown the rest.
      const probe = c.req.path === "/health" || c.req.path === "/ready";
      log[probe ? "debug" : "info"]("answered", {
        method: c.req.method,
        path: c.req.path,
        status: c.res.status,
        ms: Date.now() - started,
      });
    });
  });

  root.add(healthSpec, (c) => c.json({ status: "ok" as const }));
  root.add(readySpec, async (c) => {
    const failing = [...((await deps.readiness?.()) ?? [])];
    if (failing.length > 0) c.get("log").warn("not ready", { failing });
    return failing.length === 0
      ? c.json({ status: "ready" as const, failing }, 200)
      : c.json({ status: "unavailable" as const, failing }, 503);
  });

  const v1 = new RouteTable<ApiEnv>();
  v1.use(apiKeyAuth(deps.keys) as never);
  v1.use(
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      // Answered before the rest of the body is read: what is left of it would be read
      // as the connection's next request, so the connection must end with this answer.
      onError: (c) => {
        const error = new ApiError(413, "payload_too_large", `the body exceeds ${MAX_BODY_BYTES} bytes`);
        return c.json(error.toBody(), 413, { Connection: "close" });
      },
    }),
  );
  const registry = deps.participants?.registry;
  v1.mount("/", transactionRoutes({ ...deps, ...(registry ? { registry } : {}) }));
  v1.mount("/", participantResourceRoutes(deps.resources));
  if (deps.participants) v1.mount("/participants", participantRoutes(deps.participants));
  root.mount("/v1", v1);
  root.mount("/ui", dashboardRoutes(deps));
  root.mount("/metrics", metricsRoutes(deps.keys, deps.scrapeMetrics));

  // The document describes the table as it stands once every route is on it.
  let document: ReturnType<typeof openApiDocument> | undefined;
  const described = () => {
    document ??= openApiDocument([...root.specs, documentSpec, ...docsSpecs], DOCUMENT_INFO);
    return document;
  };
  const docsSpecs = [
    docsAsset("/docs", "docsPage"),
    docsAsset("/docs/reference.js", "docsScript"),
    docsAsset("/docs/reference.css", "docsStyles"),
  ] as const;
  const docsHeaders = (c: Context) => {
    c.header("Content-Security-Policy", CONTENT_SECURITY_POLICY);
    c.header("X-Content-Type-Options", "nosniff");
    c.header("Referrer-Policy", "no-referrer");
  };
  root.add(documentSpec, (c) => c.json(described()));
  root.add(docsSpecs[0], (c) => {
    docsHeaders(c);
    return c.html(referencePage(described()));
  });
  root.add(docsSpecs[1], (c) => {
    docsHeaders(c);
    return c.body(REFERENCE_SCRIPT, 200, { "Content-Type": "text/javascript; charset=utf-8" });
  });
  root.add(docsSpecs[2], (c) => {
    docsHeaders(c);
    return c.body(REFERENCE_CSS, 200, { "Content-Type": "text/css; charset=utf-8" });
  });

  const app = root.app;
  app.notFound((c) =>
    c.json(new ApiError(404, "not_found", `no route ${c.req.method} ${c.req.path}`).toBody(), 404),
  );

  app.onError((err, c) => {
    const log = c.get("log") ?? deps.log;
    if (err instanceof ApiError) return c.json(err.toBody(), err.status);
    if (err instanceof HTTPException) {
      const status = err.status;
      const code = status === 413 ? "payload_too_large" : status === 401 ? "unauthorized" : "invalid_request";
      return c.json(new ApiError(status, code, err.message || "bad request").toBody(), status);
    }
    if (isUnavailableError(err)) {
      // Throttled or down after the SDK's retries: nothing to fix on either side, so
      // say when to come back. A write that failed this way may still have landed;
      // repeating a POST with the same Idempotency-Key can never start it twice.
      log.warn("AWS unavailable", { method: c.req.method, path: c.req.path, error: String(err) });
      const message =
        "storage is throttled or unavailable; try again shortly (repeat a POST with the same Idempotency-Key)";
      return c.json(new ApiError(503, "unavailable", message).toBody(), 503, {
        "Retry-After": String(RETRY_AFTER_SECONDS),
      });
    }
    log.error("unhandled API error", { method: c.req.method, path: c.req.path, error: String(err) });
    return c.json(new ApiError(500, "internal", "internal error").toBody(), 500);
  });

  return Object.assign(app, { specs: () => [...root.specs] });
}

export type App = ReturnType<typeof createApp>;

/** The document of an app built with `deps`, without serving it (`npm run openapi`). */
export const documentOf = (app: App) => openApiDocument(app.specs(), DOCUMENT_INFO);
