import { type Context, Hono } from "hono";
import type { CoordinatorDeps } from "../../coordinator/advance.ts";
import {
  type BeginRequest,
  beginTransaction,
  IdempotencyConflictError,
} from "../../coordinator/begin-transaction.ts";
import type { DecisionSignal } from "../../coordinator/decision-signal.ts";
import { branchesBytes, MAX_BRANCHES_BYTES } from "../../core/record-size.ts";
import { stageNumberOf } from "../../core/saga.ts";
import type { Policy } from "../../core/step.ts";
import type { BranchSpec } from "../../core/transaction.ts";
import { STATUSES, type Status, statusOf, toView } from "../../core/view.ts";
import {
  type HttpProtocol,
  PARTICIPANT_NAME,
  type ParticipantRegistry,
  protocolsNeeded,
} from "../../http-participants/registry.ts";
import { type Catalog, httpKind, type ParticipantKind } from "../../participants/catalog.ts";
import { InvalidCursorError } from "../../ports/errors.ts";
import type { TransactionListing } from "../../ports/transaction-listing.ts";
import type { TransactionStore } from "../../ports/transaction-store.ts";
import type { Role } from "../auth.ts";
import { parseBody } from "../body.ts";
import { ApiError, badRequest, notFound } from "../errors.ts";
import {
  issuesOf,
  MAX_WAIT_MS,
  TX_ID,
  transactionRequest,
  transferRequest,
  txId,
  waitParam,
} from "../schemas.ts";
import { inTransferTerms } from "../transfer-errors.ts";
import { waitForOutcome } from "../wait.ts";
import { adminRoutes } from "./admin.ts";

export interface TransactionRoutesDeps extends CoordinatorDeps {
  readonly store: TransactionStore;
  readonly listing: TransactionListing;
  readonly policy: Policy;
  readonly catalog: Catalog;
  /** Registered HTTP participants: branches may name them besides the catalog's. */
  readonly registry?: Pick<ParticipantRegistry, "getMany">;
  readonly defaultTimeoutMs: number;
  readonly maxTimeoutMs: number;
  /** Wakes `?wait=` early when a coordinator runs in this process. */
  readonly decisions?: DecisionSignal;
}

type Env = { Variables: { role: Role } };
type Issue = { path: string; message: string };

/** Checks one action (or compensation) against what its participant accepts. */
function checkStep(
  kind: ParticipantKind,
  participant: string,
  step: { readonly action: string; readonly input: unknown },
  path: string,
  issues: Issue[],
): boolean {
  if (kind.open) {
    if (kind.open.actionName.test(step.action)) return true;
    issues.push({
      path: `${path}.action`,
      message: `an action name is 1-64 characters of A-Z a-z 0-9 _ . : -`,
    });
    return false;
  }
  const schema = kind.actions[step.action];
  if (!schema || !Object.hasOwn(kind.actions, step.action)) {
    const known = Object.keys(kind.actions).join(", ");
    issues.push({
      path: `${path}.action`,
      message: `"${participant}" has no action "${step.action}" (${known})`,
    });
    return false;
  }
  const parsed = schema.safeParse(step.input);
  if (!parsed.success) {
    for (const issue of issuesOf(parsed.error)) {
      issues.push({ path: `${path}.input${issue.path ? `.${issue.path}` : ""}`, message: issue.message });
    }
  }
  return true;
}

/**
 * The branches each PREPARE would carry, by participant: all of a participant's
 * in 2PC; in a saga, those of its atomic stage (a plain saga step prepares nothing).
 */
function prepareGroups(request: BeginRequest): Map<string, number[]> {
  const atomic = new Set(request.protocol === "saga" ? (request.atomicStages ?? []) : []);
  const groups = new Map<string, number[]>();
  request.branches.forEach((b, i) => {
    if (request.protocol === "saga" && !atomic.has(stageNumberOf(b, i))) return;
    groups.set(b.participant, [...(groups.get(b.participant) ?? []), i]);
  });
  return groups;
}

/** Whether branch `i` runs in an atomic stage of a saga (a 2PC group). */
const inAtomicStage = (request: BeginRequest, branch: BranchSpec, i: number): boolean =>
  request.protocol === "saga" && (request.atomicStages ?? []).includes(stageNumberOf(branch, i));

/** Why a registered HTTP participant cannot run branch `i`, if it cannot: it lacks a protocol the branch needs. */
function protocolProblem(
  kind: ParticipantKind,
  request: BeginRequest,
  branch: BranchSpec,
  i: number,
): string | undefined {
  if (!kind.open) return undefined;
  const atomic = inAtomicStage(request, branch, i);
  const needed = protocolsNeeded(request.protocol, atomic);
  const missing = needed.filter((p) => !kind.open?.protocols.includes(p));
  if (missing.length === 0) return undefined;
  const what = request.protocol === "2pc" ? "a 2PC branch" : atomic ? "an atomic stage" : "a saga step";
  return `"${branch.participant}" is registered for ${kind.open.protocols.join(" and ")}; ${what} needs ${needed.join(" and ")}`;
}

/**
 * The catalog this request is checked against: the built-in participants, and
 * the registered HTTP participants it names (looked up once, all together).
 */
async function catalogFor(deps: TransactionRoutesDeps, request: BeginRequest): Promise<Catalog> {
  // Only names a registration could have: anything else is unknown without asking.
  const unknown = [...new Set(request.branches.map((b) => b.participant))].filter(
    (n) => !deps.catalog.has(n) && PARTICIPANT_NAME.test(n),
  );
  if (unknown.length === 0 || !deps.registry) return deps.catalog;
  const registered = await deps.registry.getMany(unknown);
  if (registered.size === 0) return deps.catalog;
  const merged = new Map(deps.catalog);
  for (const [name, p] of registered) merged.set(name, httpKind(p.protocols as readonly HttpProtocol[]));
  return merged;
}

/**
 * Whether an input pins a resource's version. A compensation at one of concord's
 * own participants never may: it runs after its action, which moved the version
 * on. (An HTTP participant's inputs are its own business.)
 */
const pinsVersion = (input: unknown): boolean =>
  typeof input === "object" && input !== null && Object.hasOwn(input, "expectedVersion");

/** Checks every branch against what its participant accepts; all problems at once. */
function checkBranches(catalog: Catalog, request: BeginRequest): void {
  const { branches } = request;
  // Size first: too large is too large whatever else is wrong, and it keeps huge
  // bodies from being validated and echoed back in the details.
  const size = branchesBytes(branches);
  if (size > MAX_BRANCHES_BYTES) {
    const measured = Number.isFinite(size) ? `${size} bytes` : "nested too deeply to measure";
    throw new ApiError(
      413,
      "payload_too_large",
      `the branches (actions, inputs and compensations) may take at most ${MAX_BRANCHES_BYTES} bytes, so that the transaction's record with its bookkeeping fits one DynamoDB item; these take ${measured}`,
      { limit: MAX_BRANCHES_BYTES, ...(Number.isFinite(size) ? { size } : {}) },
    );
  }
  const issues: Issue[] = [];
  const valid = new Set<number>();
  branches.forEach((b, i) => {
    const kind = catalog.get(b.participant);
    if (!kind) {
      issues.push({ path: `branches.${i}.participant`, message: `unknown participant "${b.participant}"` });
      return;
    }
    const problem = protocolProblem(kind, request, b, i);
    if (problem) issues.push({ path: `branches.${i}.participant`, message: problem });
    if (checkStep(kind, b.participant, b, `branches.${i}`, issues)) valid.add(i);
    if (b.compensation) {
      const path = `branches.${i}.compensation`;
      checkStep(kind, b.participant, b.compensation, path, issues);
      if (!kind.open && pinsVersion(b.compensation.input)) {
        issues.push({
          path: `${path}.input.expectedVersion`,
          message:
            "a compensation may not pin expectedVersion: it runs after its action changed the version, so it could never apply and the saga would stay compensating",
        });
      }
    }
  });
  for (const [name, members] of prepareGroups(request)) {
    const group = members
      .filter((i) => valid.has(i))
      .map((i) => ({ action: branches[i]?.action ?? "", input: branches[i]?.input }));
    const problem = group.length > 0 ? catalog.get(name)?.checkGroup?.(group) : undefined;
    if (problem) issues.push({ path: "branches", message: `${name}: ${problem}` });
  }
  if (issues.length > 0) throw badRequest("some branches are not valid", issues);
}

/** A 2PC whose participants can all commit in one phase; the coordinator takes it when they are one. */
function withOnePhase(catalog: Catalog, request: BeginRequest): BeginRequest {
  if (request.protocol !== "2pc") return request;
  const able = request.branches.every((b) => catalog.get(b.participant)?.onePhase === true);
  return able ? { ...request, onePhase: true } : request;
}

function readWait(raw: string | undefined): number {
  if (raw === undefined) return 0;
  // Plain decimal digits only: Number() would also take "0x10", "1e3" and " 5".
  const parsed = /^\d{1,5}$/.test(raw) ? waitParam.safeParse(raw) : undefined;
  if (!parsed?.success) throw badRequest(`wait must be an integer number of ms from 0 to ${MAX_WAIT_MS}`);
  return parsed.data;
}

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

/** One value per parameter: `?status=a&status=b` is ambiguous, so it is refused. */
function single(c: Context<Env>, name: string): string | undefined {
  const values = c.req.queries(name) ?? [];
  if (values.length > 1) throw badRequest(`${name} may be given once`);
  return values[0];
}

const isStatus = (value: string): value is Status => (STATUSES as readonly string[]).includes(value);

function readListQuery(c: Context<Env>): { status?: Status; limit: number; cursor?: string } {
  const status = single(c, "status");
  const limit = single(c, "limit");
  const cursor = single(c, "cursor");
  if (status !== undefined && !isStatus(status)) {
    throw badRequest(`status must be one of ${STATUSES.join(", ")}`);
  }
  // Plain decimal digits only, as for wait.
  const n = limit === undefined ? DEFAULT_PAGE_SIZE : /^\d{1,3}$/.test(limit) ? Number(limit) : 0;
  if (n < 1 || n > MAX_PAGE_SIZE) throw badRequest(`limit must be an integer from 1 to ${MAX_PAGE_SIZE}`);
  return {
    ...(status !== undefined ? { status } : {}),
    limit: n,
    ...(cursor !== undefined ? { cursor } : {}),
  };
}

function readIdempotencyKey(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  const parsed = txId.safeParse(raw);
  if (!parsed.success) throw badRequest("Idempotency-Key must be 1-128 characters of A-Z a-z 0-9 _ . : -");
  return parsed.data;
}

export function transactionRoutes(deps: TransactionRoutesDeps) {
  const app = new Hono<Env>();

  async function start(c: Context<Env>, request: BeginRequest, wait: number) {
    const catalog = await catalogFor(deps, request);
    checkBranches(catalog, request);
    try {
      const { tx, created } = await beginTransaction(deps, withOnePhase(catalog, request));
      const final = await waitForOutcome(deps.store, tx, wait, deps.decisions);
      if (!created) c.header("Idempotent-Replayed", "true");
      c.header("Location", `/v1/transactions/${encodeURIComponent(final.id)}`);
      return c.json(toView(final), statusOf(final.state) === "pending" ? 202 : 201);
    } catch (err) {
      if (err instanceof IdempotencyConflictError)
        throw new ApiError(409, "idempotency_conflict", err.message);
      throw err;
    }
  }

  app.post("/transactions", async (c) => {
    const wait = readWait(c.req.query("wait"));
    const header = readIdempotencyKey(c.req.header("idempotency-key"));
    const body = await parseBody(c, transactionRequest);
    if (header !== undefined && body.id !== undefined && header !== body.id) {
      throw badRequest("the Idempotency-Key header and the body's id differ");
    }
    const timeoutMs = body.timeoutMs ?? deps.defaultTimeoutMs;
    if (timeoutMs > deps.maxTimeoutMs) throw badRequest(`timeoutMs must be at most ${deps.maxTimeoutMs}`);
    const id = body.id ?? header;
    const common = { ...(id !== undefined ? { id } : {}), timeoutMs };
    const plain = (b: (typeof body.branches)[number]) => ({
      participant: b.participant,
      action: b.action,
      input: b.input,
    });
    if (body.protocol === "2pc") {
      return start(c, { ...common, protocol: "2pc", branches: body.branches.map(plain) }, wait);
    }
    const branches = body.branches.map((b) => ({
      ...plain(b),
      ...(b.stage !== undefined ? { stage: b.stage } : {}),
      ...(b.compensation !== undefined
        ? { compensation: { action: b.compensation.action, input: b.compensation.input } }
        : {}),
    }));
    const atomicStages = body.atomicStages ?? [];
    return start(
      c,
      { ...common, protocol: "saga", branches, ...(atomicStages.length > 0 ? { atomicStages } : {}) },
      wait,
    );
  });

  app.post("/transfers", async (c) => {
    const wait = readWait(c.req.query("wait"));
    const id = readIdempotencyKey(c.req.header("idempotency-key"));
    const operations = await parseBody(c, transferRequest);
    const branches = operations.map((op) => ({
      participant: op.server_id,
      action: op.operation,
      input: {
        account: op.account_id,
        amount: op.amount,
        ...(op.to_account_id !== undefined ? { to_account: op.to_account_id } : {}),
      },
    }));
    try {
      return await start(
        c,
        { ...(id !== undefined ? { id } : {}), protocol: "2pc", timeoutMs: deps.defaultTimeoutMs, branches },
        wait,
      );
    } catch (err) {
      throw inTransferTerms(err);
    }
  });

  app.get("/transactions", async (c) => {
    try {
      const page = await deps.listing.list(readListQuery(c));
      return c.json({
        transactions: page.items.map(toView),
        ...(page.nextCursor !== undefined ? { nextCursor: page.nextCursor } : {}),
      });
    } catch (err) {
      if (err instanceof InvalidCursorError) throw badRequest(err.message);
      throw err;
    }
  });

  app.route("/transactions", adminRoutes(deps));

  app.get("/transactions/:id", async (c) => {
    const id = c.req.param("id");
    if (!TX_ID.test(id)) throw notFound(`transaction`);
    const tx = await deps.store.get(id);
    if (!tx) throw notFound(`transaction ${id}`);
    return c.json(toView(tx));
  });

  return app;
}
