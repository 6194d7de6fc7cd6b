/**
 * The bodies concord POSTs (docs/participants.md, "The contract, per
 * endpoint"), checked by hand so the kit needs no schema library. Times come
 * as ISO 8601; `startedAt` is the transaction's incarnation (an id may be used
 * again once its record expired) and may be absent on a decision sent by an
 * older dispatcher.
 */

export type Endpoint = "prepare" | "commit" | "rollback" | "action" | "compensate";
export const ENDPOINTS: readonly Endpoint[] = ["prepare", "commit", "rollback", "action", "compensate"];

export interface Branch {
  /** The branch's index in the transaction request. */
  readonly branch: number;
  readonly action: string;
  readonly input: unknown;
}

interface Base {
  readonly txId: string;
  readonly participant: string;
  /** The incarnation: the transaction's start, as sent (ISO 8601). */
  readonly startedAt?: string;
}

export interface PrepareRequest extends Base {
  readonly endpoint: "prepare";
  readonly branches: readonly Branch[];
  /** Epoch ms. */
  readonly deadline: number;
}
export interface DecisionRequest extends Base {
  readonly endpoint: "commit" | "rollback";
}
export interface ActionRequest extends Base, Branch {
  readonly endpoint: "action";
  readonly deadline: number;
}
export interface CompensateRequest extends Base, Branch {
  readonly endpoint: "compensate";
  /** The branch ran in an atomic stage: what to undo is what its `/commit` applied. */
  readonly atomic: boolean;
}
export type ParticipantRequest = PrepareRequest | DecisionRequest | ActionRequest | CompensateRequest;

export class InvalidRequestError extends Error {
  override name = "InvalidRequestError";
}

type Json = Record<string, unknown>;

function text(body: Json, field: string, max: number): string {
  const value = body[field];
  if (typeof value !== "string" || value.length < 1 || value.length > max) {
    throw new InvalidRequestError(`${field} must be a string of 1-${max} characters`);
  }
  return value;
}

function time(body: Json, field: string): number {
  const value = body[field];
  const ms = typeof value === "string" ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(ms)) throw new InvalidRequestError(`${field} must be an ISO 8601 time`);
  return ms;
}

function index(value: unknown, field: string): number {
  if (!Number.isSafeInteger(value) || (value as number) < 0) {
    throw new InvalidRequestError(`${field} must be a non-negative integer`);
  }
  return value as number;
}

function branchOf(body: Json, field = "branch"): Branch {
  return { branch: index(body[field], field), action: text(body, "action", 64), input: body.input };
}

export function parseRequest(endpoint: Endpoint, raw: string): ParticipantRequest {
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch {
    throw new InvalidRequestError("the body is not JSON");
  }
  if (!body || typeof body !== "object" || Array.isArray(body)) {
    throw new InvalidRequestError("the body must be a JSON object");
  }
  const json = body as Json;
  const base: Base = {
    txId: text(json, "txId", 128),
    participant: text(json, "participant", 64),
    ...(json.startedAt !== undefined ? { startedAt: new Date(time(json, "startedAt")).toISOString() } : {}),
  };
  switch (endpoint) {
    case "prepare": {
      const branches = json.branches;
      if (!Array.isArray(branches) || branches.length === 0) {
        throw new InvalidRequestError("branches must be a non-empty array");
      }
      return {
        ...base,
        endpoint,
        branches: branches.map((b) => {
          if (!b || typeof b !== "object") throw new InvalidRequestError("each branch must be an object");
          return branchOf(b as Json);
        }),
        deadline: time(json, "deadline"),
      };
    }
    case "commit":
    case "rollback":
      return { ...base, endpoint };
    case "action":
      return { ...base, ...branchOf(json), endpoint, deadline: time(json, "deadline") };
    case "compensate":
      return { ...base, ...branchOf(json), endpoint, atomic: json.atomic === true };
  }
}
