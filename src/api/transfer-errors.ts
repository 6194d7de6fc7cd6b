/**
 * `POST /v1/transfers` is checked in the general form (`branches.<i>.participant`, ...);
 * its errors must name the caller's body (`<i>.server_id`, ...), never that form.
 */
import { ApiError } from "./errors.ts";

/** Where each field of the general form came from in a transfer operation. */
const FIELDS: Readonly<Record<string, string>> = {
  participant: "server_id",
  action: "operation",
  "input.account": "account_id",
  "input.amount": "amount",
  "input.to_account": "to_account_id",
};

/** `branches.0.input.to_account` → `0.to_account_id`; `branches` → `` (the whole body). */
export function transferPath(path: string): string {
  if (path === "branches") return "";
  const match = /^branches\.(\d+)(?:\.(.*))?$/.exec(path);
  if (!match) return path;
  const [, index, rest] = match;
  if (rest === undefined) return `${index}`;
  const field = FIELDS[rest];
  if (field !== undefined) return `${index}.${field}`;
  // Anything else inside the operation's input has no field of its own in the body.
  return `${index}`;
}

/** Rewrites the paths of a validation error; any other error passes unchanged. */
export function inTransferTerms(err: unknown): unknown {
  if (!(err instanceof ApiError) || !Array.isArray(err.details)) return err;
  const details = err.details.map((d: unknown) =>
    d !== null && typeof d === "object" && "path" in d && typeof d.path === "string"
      ? { ...d, path: transferPath(d.path) }
      : d,
  );
  return new ApiError(err.status, err.code, err.message.replace(/\bbranches\b/g, "operations"), details);
}
