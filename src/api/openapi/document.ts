/**
 * The OpenAPI 3.1 document of the app, built from its route table: the same
 * zod schemas that validate requests, written as JSON Schema 2020-12 (the
 * dialect OpenAPI 3.1 uses) by `z.toJSONSchema`. Request schemas are written
 * as their input (what a client sends: `"5"` for a query number), answers as
 * their output.
 */
import * as z from "zod";
import {
  branchView,
  builtInParticipants,
  errorBody,
  eventView,
  health,
  participantPage,
  readiness,
  registeredParticipant,
  resourceView,
  session,
  transactionPage,
  transactionView,
} from "../response-schemas.ts";
import type { Access, ErrorStatus, ParamSpec, RouteSpec } from "./route-table.ts";

export const SECURITY_SCHEME = "apiKey";

/** Schemas shared by several answers, documented once under these names. */
const SHARED: readonly (readonly [string, z.ZodType])[] = [
  ["Error", errorBody],
  ["TransactionView", transactionView],
  ["BranchView", branchView],
  ["EventView", eventView],
  ["RegisteredParticipant", registeredParticipant],
  ["ParticipantPage", participantPage],
  ["TransactionPage", transactionPage],
  ["Resource", resourceView],
  ["Health", health],
  ["Readiness", readiness],
  ["DashboardSession", session],
  ["BuiltInParticipants", builtInParticipants],
];

const ERROR_DESCRIPTIONS: Readonly<Record<ErrorStatus, string>> = {
  400: "Invalid input (`invalid_json`, `invalid_request`); nothing changed",
  401: "No API key, or one that is not valid (only when keys are configured); `WWW-Authenticate` says which",
  403: "The key's role may not do this: an admin key is needed",
  404: "Not found",
  409: "Conflict with the current state",
  413: "The body, or the branches it holds, are too large (`payload_too_large`); the connection closes",
  500: "An internal fault (`internal`)",
  503: "DynamoDB or SQS is throttled or unavailable (`unavailable`); `Retry-After` says when to come back",
};

/** The error answers a route can give: its own, what its access and body imply, and 500. */
export function errorStatuses(spec: RouteSpec): ErrorStatus[] {
  const set = new Set<ErrorStatus>(spec.errors ?? []);
  if (spec.access !== "public") set.add(401);
  if (spec.access === "admin") set.add(403);
  if (spec.body || spec.query || spec.headers) set.add(400);
  if (spec.body) set.add(413);
  set.add(500);
  return [...set].sort((a, b) => a - b);
}

const openApiPath = (path: string) => path.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, "{$1}");
const pathParamNames = (path: string) =>
  [...path.matchAll(/:([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1] ?? "");

/** A JSON Schema for the document: no `$schema`/`$id` of its own (the document's dialect applies). */
function clean(schema: Record<string, unknown>): Record<string, unknown> {
  const { $schema: _s, $id: _i, ...rest } = schema;
  return rest;
}

const paramSchema = (spec: ParamSpec) => clean(z.toJSONSchema(spec.schema, { io: "input" }) as never);

function parameters(spec: RouteSpec) {
  const list: Record<string, unknown>[] = [];
  for (const name of pathParamNames(spec.path)) {
    const p = spec.pathParams?.[name];
    list.push({
      name,
      in: "path",
      required: true,
      description: p?.description ?? name,
      schema: p ? paramSchema(p) : { type: "string" },
      ...(p?.example !== undefined ? { example: p.example } : {}),
    });
  }
  const add = (where: "query" | "header", specs: Readonly<Record<string, ParamSpec>> | undefined) => {
    for (const [name, p] of Object.entries(specs ?? {})) {
      list.push({
        name,
        in: where,
        required: p.required === true,
        description: p.description,
        schema: paramSchema(p),
        ...(p.example !== undefined ? { example: p.example } : {}),
      });
    }
  };
  add("query", spec.query);
  add("header", spec.headers);
  return list;
}

function security(access: Access) {
  if (access === "public") return [];
  // OpenAPI 3.1: for a scheme other than OAuth2 the list holds the roles required.
  return [{ [SECURITY_SCHEME]: access === "admin" ? ["admin"] : [] }];
}

export interface DocumentInfo {
  readonly title: string;
  readonly version: string;
  readonly description: string;
}

/** The whole document. Pure: the same table gives the same document. */
export function openApiDocument(specs: readonly RouteSpec[], info: DocumentInfo) {
  const requests = z.registry<{ id: string }>();
  const answers = z.registry<{ id: string }>();
  for (const [id, schema] of SHARED) answers.add(schema, { id });
  const named = (registry: typeof answers, schema: z.ZodType, id: string): string => {
    const existing = registry.get(schema)?.id ?? SHARED.find(([, s]) => s === schema)?.[0];
    if (existing !== undefined) return existing;
    registry.add(schema, { id });
    return id;
  };
  const ref = (id: string) => ({ $ref: `#/components/schemas/${id}` });

  const paths: Record<string, Record<string, unknown>> = {};
  for (const spec of specs) {
    if (spec.hidden) continue;
    const id = spec.operationId;
    const upper = id.charAt(0).toUpperCase() + id.slice(1);
    const responses: Record<string, unknown> = {};
    for (const [status, r] of Object.entries(spec.responses)) {
      if (!r) continue;
      const headers = Object.fromEntries(
        Object.entries({
          "X-Request-Id": "This request's id (the client's, when it sent a sane one)",
          ...r.headers,
        }).map(([name, description]) => [name, { description, schema: { type: "string" } }]),
      );
      const content = r.schema
        ? {
            [r.contentType ?? "application/json"]: {
              schema: ref(named(answers, r.schema, `${upper}${status}`)),
            },
          }
        : r.contentType
          ? { [r.contentType]: { schema: { type: "string" } } }
          : undefined;
      responses[status] = { description: r.description, headers, ...(content ? { content } : {}) };
    }
    for (const status of errorStatuses(spec)) {
      responses[String(status)] = {
        description: ERROR_DESCRIPTIONS[status],
        content: { "application/json": { schema: ref("Error") } },
        ...(status === 503
          ? { headers: { "Retry-After": { description: "Seconds to wait", schema: { type: "string" } } } }
          : {}),
      };
    }
    const operation = {
      operationId: id,
      summary: spec.summary,
      ...(spec.description ? { description: spec.description } : {}),
      tags: [spec.tag],
      security: security(spec.access),
      parameters: parameters(spec),
      ...(spec.body
        ? {
            requestBody: {
              required: true,
              ...(spec.body.description ? { description: spec.body.description } : {}),
              content: {
                "application/json": {
                  schema: ref(named(requests, spec.body.schema, `${upper}Request`)),
                  ...(spec.body.example !== undefined ? { example: spec.body.example } : {}),
                },
              },
            },
          }
        : {}),
      responses,
    };
    const path = openApiPath(spec.path);
    paths[path] = { ...paths[path], [spec.method]: operation };
  }

  const uri = (id: string) => `#/components/schemas/${id}`;
  const written = (registry: typeof answers, io: "input" | "output") =>
    Object.fromEntries(
      Object.entries(z.toJSONSchema(registry, { uri, io, metadata: registry }).schemas).map(([k, v]) => [
        k,
        clean(v as Record<string, unknown>),
      ]),
    );

  return {
    openapi: "3.1.0",
    info,
    jsonSchemaDialect: "https://json-schema.org/draft/2020-12/schema",
    tags: [...new Set(specs.filter((s) => !s.hidden).map((s) => s.tag))].map((name) => ({ name })),
    paths,
    components: {
      schemas: { ...written(requests, "input"), ...written(answers, "output") },
      securitySchemes: {
        [SECURITY_SCHEME]: {
          type: "http",
          scheme: "bearer",
          description:
            "An API key as `Authorization: Bearer <key>`: a client key (CONCORD_API_KEYS) or an admin key (CONCORD_ADMIN_KEYS). Operations that need the admin role list `admin`. With no keys configured (the local default) auth is off and every operation is open.",
        },
      },
    },
  };
}

export type OpenApiDocument = ReturnType<typeof openApiDocument>;
