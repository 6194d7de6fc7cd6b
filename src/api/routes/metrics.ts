import { Hono } from "hono";
import { PROMETHEUS_CONTENT_TYPE } from "../../metrics/catalog.ts";
import { type ApiKeys, apiKeyAuth, type Role, requireAdmin } from "../auth.ts";
import { ApiError } from "../errors.ts";

type Env = { Variables: { role: Role } };

/**
 * `GET /metrics`: Prometheus text, admin key when auth is on. `scrape` is absent
 * where metrics go elsewhere (CloudWatch on Lambda): then there is nothing here.
 */
export function metricsRoutes(keys: ApiKeys, scrape?: () => Promise<string>) {
  const app = new Hono<Env>();
  app.get("/", apiKeyAuth(keys), requireAdmin, async (c) => {
    if (!scrape) {
      throw new ApiError(
        404,
        "not_found",
        "this deployment publishes its metrics to CloudWatch, not at /metrics",
      );
    }
    return c.body(await scrape(), 200, { "Content-Type": PROMETHEUS_CONTENT_TYPE });
  });
  return app;
}
