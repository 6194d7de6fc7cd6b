/**
 * The dashboard (`/ui`): page shells, their script and stylesheet, and two small
 * JSON routes the API does not serve elsewhere (the caller's role; the built-in
 * participants). Shells and assets hold no data and are served without a key;
 * the JSON routes, like `/v1`, need one when keys are configured.
 */
import { type Context, Hono, type MiddlewareHandler } from "hono";
import { DISPATCHER_QUEUE, deadLetterQueue, participantQueue } from "../../../infra/topology.ts";
import type { Catalog } from "../../participants/catalog.ts";
import { type ApiKeys, apiKeyAuth, authEnabled, type Role } from "../auth.ts";
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

export function dashboardRoutes(deps: DashboardDeps) {
  const app = new Hono<Env>();
  app.use(securityHeaders);

  const page = (name: Page, title: string) => (c: Context<Env>) => c.html(shell(name, title));
  app.get("/", page("list", "Transactions"));
  app.get("/transactions/:id", page("transaction", "Transaction"));
  app.get("/participants", page("participants", "Participants"));
  app.get("/metrics", page("metrics", "Metrics"));
  app.get("/assets/dashboard.js", (c) =>
    c.body(DASHBOARD_SCRIPT, 200, { "Content-Type": "text/javascript; charset=utf-8" }),
  );
  app.get("/assets/dashboard.css", (c) =>
    c.body(DASHBOARD_CSS, 200, { "Content-Type": "text/css; charset=utf-8" }),
  );

  const data = new Hono<Env>();
  data.use(apiKeyAuth(deps.keys));
  data.get("/session", (c) =>
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
  data.get("/participants", (c) => c.json(builtIn));
  app.route("/api", data);

  return app;
}
