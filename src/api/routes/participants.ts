/**
 * The HTTP participant registry (admin only): register a service by name and
 * base URL, list and read registrations. The base URL passes the URL policy
 * (scheme, credentials, host allowlist, and every address its host resolves to).
 */
import { type Context, Hono } from "hono";
import { checkHost, type Resolve } from "../../http-participants/guarded-lookup.ts";
import {
  type HttpParticipant,
  NameTakenError,
  PARTICIPANT_NAME,
  type ParticipantRegistry,
  registrationBody,
  reservedName,
  sameRegistration,
} from "../../http-participants/registry.ts";
import { checkBaseUrl, type UrlPolicy } from "../../http-participants/url-policy.ts";
import { InvalidCursorError } from "../../ports/errors.ts";
import { type Role, requireAdmin } from "../auth.ts";
import { parseBody } from "../body.ts";
import { ApiError, badRequest, notFound } from "../errors.ts";

type Env = { Variables: { role: Role } };

export interface ParticipantRoutesDeps {
  readonly registry: ParticipantRegistry;
  /** The built-in participants of this deployment: their names are taken. */
  readonly builtIn: readonly string[];
  readonly urlPolicy: UrlPolicy;
  readonly resolve: Resolve;
  readonly clock: () => number;
}

export const MAX_PARTICIPANT_PAGE = 100;

const view = (p: HttpParticipant) => ({
  name: p.name,
  baseUrl: p.baseUrl,
  protocols: p.protocols,
  createdAt: new Date(p.createdAt).toISOString(),
  version: p.version,
});

/** One form per URL, so that the same service registered twice is recognised: no trailing slash. */
const normalised = (url: URL) => `${url.origin}${url.pathname.replace(/\/+$/, "")}`;

function readLimit(c: Context<Env>): number {
  const raw = c.req.query("limit");
  if (raw === undefined) return MAX_PARTICIPANT_PAGE;
  const n = /^\d{1,3}$/.test(raw) ? Number(raw) : 0;
  if (n < 1 || n > MAX_PARTICIPANT_PAGE)
    throw badRequest(`limit must be an integer from 1 to ${MAX_PARTICIPANT_PAGE}`);
  return n;
}

export function participantRoutes(deps: ParticipantRoutesDeps) {
  const app = new Hono<Env>();
  app.use(requireAdmin);

  app.post("/", async (c) => {
    const body = await parseBody(c, registrationBody);
    const reserved = reservedName(body.name, deps.builtIn);
    if (reserved)
      throw new ApiError(409, "conflict", `${reserved}; choose another name`, { name: body.name });
    const checked = checkBaseUrl(body.baseUrl, deps.urlPolicy);
    if (!checked.ok)
      throw badRequest("the base URL is not allowed", [{ path: "baseUrl", message: checked.reason }]);
    if (!checked.literal) {
      const refused = await checkHost(checked.host, deps.urlPolicy.allowPrivate, deps.resolve);
      if (refused) throw badRequest("the base URL is not allowed", [{ path: "baseUrl", message: refused }]);
    }
    const wanted: HttpParticipant = {
      name: body.name,
      baseUrl: normalised(checked.url),
      protocols: body.protocols,
      createdAt: deps.clock(),
      version: 1,
    };
    try {
      await deps.registry.create(wanted);
      c.header("Location", `/v1/participants/${wanted.name}`);
      return c.json(view(wanted), 201);
    } catch (err) {
      if (!(err instanceof NameTakenError)) throw err;
      if (sameRegistration(err.existing, wanted)) {
        c.header("Idempotent-Replayed", "true");
        return c.json(view(err.existing), 200);
      }
      throw new ApiError(
        409,
        "conflict",
        `participant ${wanted.name} is registered with another base URL or protocols; registrations do not change (register another name)`,
        { registered: view(err.existing) },
      );
    }
  });

  app.get("/", async (c) => {
    const limit = readLimit(c);
    const cursor = c.req.query("cursor");
    try {
      const page = await deps.registry.list({ limit, ...(cursor !== undefined ? { cursor } : {}) });
      return c.json({
        participants: page.items.map(view),
        ...(page.nextCursor !== undefined ? { nextCursor: page.nextCursor } : {}),
      });
    } catch (err) {
      if (err instanceof InvalidCursorError) throw badRequest(err.message);
      throw err;
    }
  });

  app.get("/:name", async (c) => {
    const name = c.req.param("name");
    const found = PARTICIPANT_NAME.test(name) ? await deps.registry.get(name) : undefined;
    if (!found) throw notFound(`participant ${name}`);
    return c.json(view(found));
  });

  return app;
}
