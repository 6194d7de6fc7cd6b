/**
 * The dashboard (`/ui`): page shells, their script and stylesheet, and two small
 * JSON routes the API does not serve elsewhere (the caller's role; the built-in
 * participants). Shells and assets hold no data and are served without a key;
 * the JSON routes, like `/v1`, need one when keys are configured.
 */
import type { Context, MiddlewareHandler } from "hono";
import { DISPATCHER_QUEUE, deadLetterQueue, participantQueue } from "../../../infra/topology.ts";
import type { Catalog } from "../../participants/catalog.ts";
import { type ApiKeys, apiKeyAuth, authEnabled, type Role } from "../auth.ts";
import { type RouteSpec, RouteTable } from "../openapi/route-table.ts";
import { builtInParticipants, session } from "../response-schemas.ts";
import type { BuiltInParticipantsView, SessionView } from "./contract.ts";
import { DASHBOARD_SCRIPT } from "./dashboard-script.ts";
import { type Page, shell } from "./pages.ts";
import { DASHBOARD_CSS } from "./styles.ts";

type Env = { Variables: { role: Role } };

export interface DashboardDeps {
  readonly keys: ApiKeys;
  /** The built-in participants of this deployment. */
  readonly catalog: Catalog;
}

/** Scripts and styles only from this origin, no inline code, nothing framed, no referrer leaked. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

const securityHeaders: MiddlewareHandler<Env> = async (c, next) => {
  // Set before the handler runs, so that error answers carry them too.
  c.header("Content-Security-Policy", CONTENT_SECURITY_POLICY);
  c.header("X-Content-Type-Options", "nosniff");
  c.header("Referrer-Policy", "no-referrer");
  c.header("Cache-Control", "no-cache");
  await next();
};

/** A page or asset of the dashboard: served, not part of the API's document. */
const asset = (path: string, operationId: string, contentType: string) =>
  ({
    method: "get",
    path,
    operationId,
    summary: "Dashboard page or asset",
    tag: "dashboard",
    access: "public",
    responses: { 200: { description: "HTML, script or stylesheet", contentType } },
    hidden: true,
  }) as const satisfies RouteSpec;

const sessionSpec = {
  method: "get",
  path: "/session",
  operationId: "getDashboardSession",
  summary: "Whether keys are required, and the role of the key sent (admin when auth is off)",
  tag: "dashboard",
  access: "key",
  responses: { 200: { description: "The session", schema: session } },
} as const satisfies RouteSpec;

const builtInSpec = {
  method: "get",
  path: "/participants",
  operationId: "listBuiltInParticipants",
  summary: "The built-in participants of this deployment and their actions",
  tag: "dashboard",
  access: "key",
  responses: { 200: { description: "The built-in participants", schema: builtInParticipants } },
} as const satisfies RouteSpec;

export function dashboardRoutes(deps: DashboardDeps) {
  const table = new RouteTable<Env>().use(securityHeaders);

  const html = "text/html";
  const page = (name: Page, title: string) => (c: Context<Env>) => c.html(shell(name, title));
  table.add(asset("/", "dashboardList", html), page("list", "Transactions"));
  table.add(asset("/transactions/:id", "dashboardTransaction", html), page("transaction", "Transaction"));
  table.add(asset("/participants", "dashboardParticipants", html), page("participants", "Participants"));
  table.add(asset("/metrics", "dashboardMetrics", html), page("metrics", "Metrics"));
  table.add(asset("/assets/dashboard.js", "dashboardScript", "text/javascript"), (c) =>
    c.body(DASHBOARD_SCRIPT, 200, { "Content-Type": "text/javascript; charset=utf-8" }),
  );
  table.add(asset("/assets/dashboard.css", "dashboardStyles", "text/css"), (c) =>
    c.body(DASHBOARD_CSS, 200, { "Content-Type": "text/css; charset=utf-8" }),
  );

  const data = new RouteTable<Env>().use(apiKeyAuth(deps.keys));
  data.add(sessionSpec, (c) =>
    c.json({ auth: authEnabled(deps.keys), role: c.get("role") } satisfies SessionView),
  );
  const builtIn: BuiltInParticipantsView = {
    participants: [...deps.catalog].map(([name, kind]) => ({
      name,
      kind: kind.kind,
      actions: Object.keys(kind.actions),
      deadLetterQueue: deadLetterQueue(participantQueue(name)),
    })),
    httpDeadLetterQueue: deadLetterQueue(DISPATCHER_QUEUE),
  };
  data.add(builtInSpec, (c) => c.json(builtIn));
  table.mount("/api", data);

  return table;
}
