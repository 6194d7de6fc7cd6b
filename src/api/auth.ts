import { createHash, timingSafeEqual } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import { ApiError } from "./errors.ts";

export type Role = "client" | "admin";

export interface ApiKeys {
  readonly client: readonly string[];
  readonly admin: readonly string[];
}

export const authEnabled = (keys: ApiKeys): boolean => keys.client.length + keys.admin.length > 0;

// Comparing digests keeps the comparison constant-time whatever the key lengths.
const digest = (key: string) => createHash("sha256").update(key).digest();
const matches = (candidate: Buffer, keys: readonly Buffer[]) =>
  keys.some((k) => timingSafeEqual(candidate, k));

/**
 * Bearer API keys. With no keys configured auth is off (the local default).
 * Sets `role` on the context; `requireAdmin` guards admin routes. Keys are never logged.
 */
export function apiKeyAuth(keys: ApiKeys): MiddlewareHandler<{ Variables: { role: Role } }> {
  const client = keys.client.map(digest);
  const admin = keys.admin.map(digest);
  const enabled = authEnabled(keys);
  return async (c, next) => {
    if (!enabled) {
      c.set("role", "admin");
      return next();
    }
    const header = c.req.header("authorization") ?? "";
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match?.[1]) {
      c.header("WWW-Authenticate", 'Bearer realm="concord"');
      throw new ApiError(401, "unauthorized", "an API key is required: Authorization: Bearer <key>");
    }
    const candidate = digest(match[1]);
    if (matches(candidate, admin)) c.set("role", "admin");
    else if (matches(candidate, client)) c.set("role", "client");
    else {
      c.header("WWW-Authenticate", 'Bearer realm="concord", error="invalid_token"');
      throw new ApiError(401, "unauthorized", "the API key is not valid");
    }
    return next();
  };
}

export const requireAdmin: MiddlewareHandler<{ Variables: { role: Role } }> = async (c, next) => {
  if (c.get("role") !== "admin") throw new ApiError(403, "forbidden", "this action needs an admin key");
  return next();
};
