/**
 * One table of the API's routes that both serves and describes them: each entry
 * is registered on Hono with the schemas in its spec doing the validating, and
 * the OpenAPI document (document.ts) is built from the same entries, so what is
 * documented is what is checked. zod v4's own `z.toJSONSchema` writes the
 * schemas; `@hono/zod-openapi` would do the same but grows the API bundle by
 * about 400 KiB (it imports all of zod, every locale), past the Lambda budget.
 */
import type { Context, Env, Handler, MiddlewareHandler } from "hono";
import { Hono } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type * as z from "zod";
import { requireAdmin } from "../auth.ts";
import { parseBody } from "../body.ts";
import { badRequest } from "../errors.ts";

/** Who may call: anyone, any API key (client or admin), an admin key. With no keys configured, anyone. */
export type Access = "public" | "key" | "admin";

export interface ParamSpec {
  readonly schema: z.ZodType;
  readonly description: string;
  readonly required?: boolean;
  /** Documented beside the schema, for the reference's "try it" form. */
  readonly example?: string;
}

export interface ResponseSpec {
  readonly description: string;
  /** JSON unless `contentType` says otherwise; absent for an answer without a body worth describing. */
  readonly schema?: z.ZodType;
  readonly contentType?: string;
  /** Response headers worth knowing (`Location`, `Retry-After`, ...), by name: their description. */
  readonly headers?: Readonly<Record<string, string>>;
}

export interface RouteSpec {
  readonly method: "get" | "post" | "put";
  /** Hono's form, relative to where the table is mounted: `/transactions/:id`. */
  readonly path: string;
  readonly operationId: string;
  readonly summary: string;
  readonly description?: string;
  readonly tag: string;
  readonly access: Access;
  readonly pathParams?: Readonly<Record<string, ParamSpec>>;
  readonly query?: Readonly<Record<string, ParamSpec>>;
  readonly headers?: Readonly<Record<string, ParamSpec>>;
  /** Validated with `parseBody` (invalid_json, then the schema's issues as details). */
  readonly body?: { readonly schema: z.ZodType; readonly description?: string; readonly example?: unknown };
  /** Success answers; the error answers are added by `errors`. */
  readonly responses: Readonly<Partial<Record<ContentfulStatusCode, ResponseSpec>>>;
  /** Error statuses this route answers besides the ones its access and body imply. */
  readonly errors?: readonly ErrorStatus[];
  /** Not in the document (the dashboard's HTML pages and assets, the reference page itself). */
  readonly hidden?: boolean;
}

const ERROR_STATUSES = [400, 401, 403, 404, 409, 413, 500, 503] as const;
export type ErrorStatus = (typeof ERROR_STATUSES)[number];

type Out<T> = T extends z.ZodType ? z.output<T> : never;
type Values<P> =
  P extends Readonly<Record<string, ParamSpec>>
    ? { [K in keyof P]: Out<P[K]["schema"]> | (P[K]["required"] extends true ? never : undefined) }
    : Record<string, never>;

/** What a handler receives besides the context: the body, query and headers as its spec's schemas parsed them. */
export interface Input<S extends RouteSpec> {
  readonly body: S["body"] extends { schema: infer B } ? Out<B> : undefined;
  readonly query: Values<S["query"]>;
  readonly headers: Values<S["headers"]>;
}

export type RouteHandler<E extends Env, S extends RouteSpec> = (
  c: Context<E>,
  input: Input<S>,
) => Response | Promise<Response>;

/** A path parameter of the matched route (Hono's untyped context may not know it is there). */
export const pathParam = (c: Context, name: string): string => c.req.param(name) ?? "";

/** One value per parameter: `?status=a&status=b` is ambiguous, so it is refused. */
function readParams(
  specs: Readonly<Record<string, ParamSpec>> | undefined,
  all: (name: string) => readonly string[],
  what: "query" | "header",
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(specs ?? {})) {
    const values = all(name);
    if (values.length > 1) throw badRequest(`${name} may be given once`);
    const [raw] = values;
    if (raw === undefined) {
      if (spec.required) throw badRequest(`the ${what} ${name} is required`);
      continue;
    }
    const parsed = spec.schema.safeParse(raw);
    if (!parsed.success) throw badRequest(parsed.error.issues[0]?.message ?? `${name} is not valid`);
    out[name] = parsed.data;
  }
  return out;
}

/** A route table: a Hono app whose every route comes with its spec. */
export class RouteTable<E extends Env = Env> {
  readonly app = new Hono<E>();
  readonly #specs: RouteSpec[] = [];

  /** Every route of this table and the tables mounted on it, with paths relative to this one. */
  get specs(): readonly RouteSpec[] {
    return this.#specs;
  }

  /** Middleware for every route of this table (auth, body limit, security headers). */
  use(...middleware: MiddlewareHandler<E>[]): this {
    this.app.use(...middleware);
    return this;
  }

  add<const S extends RouteSpec>(spec: S, handler: RouteHandler<E, S>): this {
    const handle: Handler<E> = async (c) => {
      const query = readParams(spec.query, (n) => c.req.queries(n) ?? [], "query");
      const headers = readParams(
        spec.headers,
        (n) => {
          const v = c.req.header(n);
          return v === undefined ? [] : [v];
        },
        "header",
      );
      const body = spec.body ? await parseBody(c, spec.body.schema) : undefined;
      return handler(c, { body, query, headers } as unknown as Input<S>);
    };
    const chain: Handler<E>[] = spec.access === "admin" ? [requireAdmin as unknown as Handler<E>] : [];
    this.app.on(spec.method.toUpperCase(), [spec.path], ...chain, handle);
    this.#specs.push(spec);
    return this;
  }

  /** Serves `child` under `prefix`, and takes its specs with their paths under it. */
  mount<C extends Env>(prefix: string, child: RouteTable<C>): this {
    this.app.route(prefix, child.app as unknown as Hono<E>);
    for (const spec of child.specs) this.#specs.push({ ...spec, path: joinPath(prefix, spec.path) });
    return this;
  }
}

/** `/v1` + `/` → `/v1`; `/v1` + `/transactions` → `/v1/transactions`. */
function joinPath(prefix: string, path: string): string {
  const p = prefix.replace(/\/+$/, "");
  if (path === "/" || path === "") return p === "" ? "/" : p;
  return `${p}${path}`;
}
