import type { Logger } from "@aws-lambda-powertools/logger";
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import { isUnavailableError } from "../adapters/transient-errors.ts";
import { type ApiKeys, apiKeyAuth, type Role } from "./auth.ts";
import { ApiError } from "./errors.ts";
import { metricsRoutes } from "./routes/metrics.ts";
import { type ParticipantRoutesDeps, participantRoutes } from "./routes/participants.ts";
import { participantResourceRoutes, type ResourceMount } from "./routes/resources.ts";
import { type TransactionRoutesDeps, transactionRoutes } from "./routes/transactions.ts";
import { dashboardRoutes } from "./ui/routes.ts";

export const MAX_BODY_BYTES = 1024 * 1024;
/** What a 503 asks the client to wait: the SDK has already spent its own backoff. */
export const RETRY_AFTER_SECONDS = 1;

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
}

/** The HTTP API (design §3) as a Hono app: served locally, or wrapped as a Lambda function URL handler. */
export function createApp(deps: ApiDeps) {
  const app = new Hono<{ Variables: { role: Role } }>();

  app.get("/health", (c) => c.json({ status: "ok" }));

  const v1 = new Hono<{ Variables: { role: Role } }>();
  v1.use(apiKeyAuth(deps.keys));
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
  v1.route("/", transactionRoutes({ ...deps, ...(registry ? { registry } : {}) }));
  v1.route("/", participantResourceRoutes(deps.resources));
  if (deps.participants) v1.route("/participants", participantRoutes(deps.participants));
  app.route("/v1", v1);
  app.route("/ui", dashboardRoutes(deps));
  app.route("/metrics", metricsRoutes(deps.keys, deps.scrapeMetrics));

  app.notFound((c) =>
    c.json(new ApiError(404, "not_found", `no route ${c.req.method} ${c.req.path}`).toBody(), 404),
  );

  app.onError((err, c) => {
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
      deps.log.warn("AWS unavailable", { method: c.req.method, path: c.req.path, error: String(err) });
      const message =
        "storage is throttled or unavailable; try again shortly (repeat a POST with the same Idempotency-Key)";
      return c.json(new ApiError(503, "unavailable", message).toBody(), 503, {
        "Retry-After": String(RETRY_AFTER_SECONDS),
      });
    }
    deps.log.error("unhandled API error", { method: c.req.method, path: c.req.path, error: String(err) });
    return c.json(new ApiError(500, "internal", "internal error").toBody(), 500);
  });

  return app;
}

export type App = ReturnType<typeof createApp>;
