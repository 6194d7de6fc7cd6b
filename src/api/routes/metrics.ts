import { PROMETHEUS_CONTENT_TYPE } from "../../metrics/catalog.ts";
import { type ApiKeys, apiKeyAuth, type Role } from "../auth.ts";
import { ApiError } from "../errors.ts";
import { type RouteSpec, RouteTable } from "../openapi/route-table.ts";

type Env = { Variables: { role: Role } };

const metricsSpec = {
  method: "get",
  path: "/",
  operationId: "getMetrics",
  summary: "Metrics in Prometheus text format (admin; never labelled by transaction id)",
  description: "404 where metrics go to CloudWatch (on Lambda) instead.",
  tag: "operations",
  access: "admin",
  responses: { 200: { description: "Prometheus text exposition (format 0.0.4)", contentType: "text/plain" } },
  errors: [404],
} as const satisfies RouteSpec;

/**
 * `GET /metrics`: Prometheus text, admin key when auth is on. `scrape` is absent
 * where metrics go elsewhere (CloudWatch on Lambda): then there is nothing here.
 */
export function metricsRoutes(keys: ApiKeys, scrape?: () => Promise<string>) {
  const table = new RouteTable<Env>().use(apiKeyAuth(keys));
  table.add(metricsSpec, async (c) => {
    if (!scrape) {
      throw new ApiError(
        404,
        "not_found",
        "this deployment publishes its metrics to CloudWatch, not at /metrics",
      );
    }
    return c.body(await scrape(), 200, { "Content-Type": PROMETHEUS_CONTENT_TYPE });
  });
  return table;
}
