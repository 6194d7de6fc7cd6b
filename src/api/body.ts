import type { Context } from "hono";
import type { z } from "zod";
import { ApiError, badRequest } from "./errors.ts";
import { issuesOf } from "./schemas.ts";

/** Reads and validates a JSON body; malformed JSON and schema failures are 400s that change nothing. */
export async function parseBody<T extends z.ZodType>(c: Context, schema: T): Promise<z.infer<T>> {
  const text = await c.req.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ApiError(400, "invalid_json", "the body is not valid JSON");
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw badRequest("the body does not match the expected shape", issuesOf(parsed.error));
  return parsed.data;
}
