/**
 * The HTTP participant registry (admin only): register a service by name and
 * base URL, list and read registrations. The base URL passes the URL policy
 * (scheme, credentials, host allowlist, and every address its host resolves to).
 */
import * as z from "zod";
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
import type { Role } from "../auth.ts";
import { ApiError, badRequest, notFound } from "../errors.ts";
import { pathParam, type RouteSpec, RouteTable } from "../openapi/route-table.ts";
import { participantPage, registeredParticipant } from "../response-schemas.ts";

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

const LIMIT_RULE = `limit must be an integer from 1 to ${MAX_PARTICIPANT_PAGE}`;

const registerSpec = {
  method: "post",
  path: "/",
  operationId: "registerParticipant",
  summary: "Register an HTTP participant by name and base URL (admin)",
  description:
    "The base URL must pass the URL policy (scheme, no credentials, host allowlist, every address its host resolves to). Registering the same name, URL and protocols again is 200; another URL or protocols under a taken name is 409.",
  tag: "participants",
  access: "admin",
  body: {
    schema: registrationBody,
    example: { name: "loyalty", baseUrl: "https://loyalty.example.com/concord", protocols: ["saga"] },
  },
  responses: {
    201: { description: "Registered", schema: registeredParticipant, headers: { Location: "Its URL" } },
    200: {
      description: "Already registered just so",
      schema: registeredParticipant,
      headers: { "Idempotent-Replayed": "`true`" },
    },
  },
  errors: [409, 503],
} as const satisfies RouteSpec;

const listSpec = {
  method: "get",
  path: "/",
  operationId: "listParticipants",
  summary: "A page of registered HTTP participants (admin)",
  tag: "participants",
  access: "admin",
  query: {
    limit: {
      schema: z
        .string()
        .regex(/^\d{1,3}$/, LIMIT_RULE)
        .transform(Number)
        .pipe(z.number().int().min(1, LIMIT_RULE).max(MAX_PARTICIPANT_PAGE, LIMIT_RULE)),
      description: `Page size, 1-${MAX_PARTICIPANT_PAGE} (default ${MAX_PARTICIPANT_PAGE})`,
    },
    cursor: { schema: z.string(), description: "`nextCursor` of the previous page" },
  },
  responses: { 200: { description: "One page", schema: participantPage } },
  errors: [503],
} as const satisfies RouteSpec;

const getSpec = {
  method: "get",
  path: "/:name",
  operationId: "getParticipant",
  summary: "One registered HTTP participant (admin)",
  tag: "participants",
  access: "admin",
  pathParams: { name: { schema: z.string().regex(PARTICIPANT_NAME), description: "Its name" } },
  responses: { 200: { description: "The registration", schema: registeredParticipant } },
  errors: [404, 503],
} as const satisfies RouteSpec;

export function participantRoutes(deps: ParticipantRoutesDeps) {
  const table = new RouteTable<Env>();

  table.add(registerSpec, async (c, { body }) => {
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

  table.add(listSpec, async (c, { query }) => {
    const limit = query.limit ?? MAX_PARTICIPANT_PAGE;
    const cursor = query.cursor;
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

  table.add(getSpec, async (c) => {
    const name = pathParam(c, "name");
    const found = PARTICIPANT_NAME.test(name) ? await deps.registry.get(name) : undefined;
    if (!found) throw notFound(`participant ${name}`);
    return c.json(view(found));
  });

  return table;
}
