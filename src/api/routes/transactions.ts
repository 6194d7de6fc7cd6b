import type { Logger } from "@aws-lambda-powertools/logger";
import type { Context } from "hono";
import * as z from "zod";
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
import { type BranchSpec, PROTOCOLS } from "../../core/transaction.ts";
import { STATUSES, statusOf, toView } from "../../core/view.ts";
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
import { ApiError, badRequest, notFound } from "../errors.ts";
import { pathParam, type RouteSpec, RouteTable } from "../openapi/route-table.ts";
import { transactionPage, transactionView } from "../response-schemas.ts";
import { issuesOf, MAX_WAIT_MS, TX_ID, transactionRequest, transferRequest, txId } from "../schemas.ts";
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

type Env = { Variables: { role: Role; log?: Logger } };
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

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

const WAIT_RULE = `wait must be an integer number of ms from 0 to ${MAX_WAIT_MS}`;
const LIMIT_RULE = `limit must be an integer from 1 to ${MAX_PAGE_SIZE}`;

/** Plain decimal digits only: Number() would also take "0x10", "1e3" and " 5". */
const decimal = (digits: number, rule: string, min: number, max: number) =>
  z
    .string()
    .regex(new RegExp(`^\\d{1,${digits}}$`), rule)
    .transform(Number)
    .pipe(z.number().int().min(min, rule).max(max, rule));

/** An ISO 8601 instant with its offset, as milliseconds since the epoch. */
const instant = (name: string) =>
  z.iso
    .datetime({ offset: true, error: `${name} must be an ISO 8601 date-time, e.g. 2026-01-31T12:00:00Z` })
    .transform((v) => Date.parse(v));

const waitQuery = {
  wait: {
    schema: decimal(5, WAIT_RULE, 0, MAX_WAIT_MS),
    description: `Milliseconds to wait for the outcome (0-${MAX_WAIT_MS}): 201 when known by then, else 202 at once.`,
    example: "5000",
  },
} as const;

const idempotencyHeader = {
  "Idempotency-Key": {
    schema: z.string().regex(TX_ID, "Idempotency-Key must be 1-128 characters of A-Z a-z 0-9 _ . : -"),
    description:
      "The transaction's id, if the body names none: repeating the request returns the same transaction, never a second one.",
  },
} as const;
const created = {
  201: {
    description: "Started, and its outcome known within `wait` (or a repeated id: the existing transaction)",
    schema: transactionView,
    headers: {
      Location: "The transaction's URL",
      "Idempotent-Replayed": "`true` when the id named an existing transaction",
    },
  },
  202: {
    description: "Started (or a repeated id), its outcome not known yet: poll its Location",
    schema: transactionView,
    headers: {
      Location: "The transaction's URL",
      "Idempotent-Replayed": "`true` when the id named an existing transaction",
    },
  },
} as const;

const TX_ID_PARAM = {
  id: { schema: txId, description: "The transaction's id", example: "order-42" },
} as const;

const submitSpec = {
  method: "post",
  path: "/transactions",
  operationId: "submitTransaction",
  summary: "Start a transaction (2PC or saga)",
  description:
    "Branches are checked against what their participants accept before anything is written. A repeated id returns the existing transaction; the same id with another body is 409 `idempotency_conflict`.",
  tag: "transactions",
  access: "key",
  query: waitQuery,
  headers: idempotencyHeader,
  body: {
    schema: transactionRequest,
    example: {
      protocol: "2pc",
      branches: [
        { participant: "bank-1", action: "withdraw", input: { account: "alice", amount: 30 } },
        { participant: "bank-2", action: "deposit", input: { account: "bob", amount: 30 } },
      ],
    },
  },
  responses: created,
  errors: [409, 503],
} as const satisfies RouteSpec;

const transferSpec = {
  method: "post",
  path: "/transfers",
  operationId: "submitTransfer",
  summary: "Move money between bank accounts (2PC over the bank participants)",
  tag: "transactions",
  access: "key",
  query: waitQuery,
  headers: idempotencyHeader,
  body: {
    schema: transferRequest,
    example: [
      { server_id: "bank-1", account_id: "alice", operation: "withdraw", amount: 30 },
      { server_id: "bank-2", account_id: "bob", operation: "deposit", amount: 30 },
    ],
  },
  responses: created,
  errors: [409, 503],
} as const satisfies RouteSpec;

const listSpec = {
  method: "get",
  path: "/transactions",
  operationId: "listTransactions",
  summary: "A page of transactions, newest first, served by indexes",
  tag: "transactions",
  access: "key",
  query: {
    status: {
      schema: z.enum(STATUSES, { error: `status must be one of ${STATUSES.join(", ")}` }),
      description: "Only transactions with this client-facing status",
    },
    protocol: {
      schema: z.enum(PROTOCOLS, { error: 'protocol must be "2pc" or "saga"' }),
      description: "Only transactions of this protocol",
    },
    participant: {
      schema: z.string().regex(/^[A-Za-z0-9_.:-]{1,128}$/, "participant must be a participant's name"),
      description: "Only transactions with a branch at this participant",
      example: "bank-1",
    },
    since: {
      schema: instant("since"),
      description: "Only transactions created at or after this instant (ISO 8601, e.g. 2026-01-31T12:00:00Z)",
    },
    until: {
      schema: instant("until"),
      description: "Only transactions created before this instant (ISO 8601)",
    },
    limit: {
      schema: decimal(3, LIMIT_RULE, 1, MAX_PAGE_SIZE),
      description: `Page size, 1-${MAX_PAGE_SIZE} (default ${DEFAULT_PAGE_SIZE}); a filtered page may hold fewer while \`nextCursor\` says more follow`,
    },
    cursor: {
      schema: z.string(),
      description: "`nextCursor` of the previous page, with the same filters",
    },
  },
  responses: { 200: { description: "One page", schema: transactionPage } },
  errors: [503],
} as const satisfies RouteSpec;

const getSpec = {
  method: "get",
  path: "/transactions/:id",
  operationId: "getTransaction",
  summary: "One transaction: its status, branches and events",
  tag: "transactions",
  access: "key",
  pathParams: TX_ID_PARAM,
  responses: { 200: { description: "The transaction", schema: transactionView } },
  errors: [404, 503],
} as const satisfies RouteSpec;

export function transactionRoutes(deps: TransactionRoutesDeps) {
  const table = new RouteTable<Env>();

  async function start(c: Context<Env>, request: BeginRequest, wait: number) {
    const catalog = await catalogFor(deps, request);
    checkBranches(catalog, request);
    // The request's logger (its id), and the transaction's id once it has one.
    const requestLog = c.get("log") ?? deps.log;
    try {
      const id = request.id;
      const log = id !== undefined ? requestLog.createChild({ persistentKeys: { txId: id } }) : requestLog;
      const { tx, created } = await beginTransaction({ ...deps, log }, withOnePhase(catalog, request));
      if (id === undefined) requestLog.appendKeys({ txId: tx.id });
      log.info(created ? "transaction started" : "transaction already started", {
        txId: tx.id,
        protocol: tx.protocol,
      });
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

  table.add(submitSpec, async (c, { body, query, headers }) => {
    const wait = query.wait ?? 0;
    const header = headers["Idempotency-Key"];
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

  table.add(transferSpec, async (c, { body: operations, query, headers }) => {
    const id = headers["Idempotency-Key"];
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
        query.wait ?? 0,
      );
    } catch (err) {
      throw inTransferTerms(err);
    }
  });

  table.add(listSpec, async (c, { query }) => {
    try {
      const { status, protocol, participant, since, until, cursor } = query;
      if (since !== undefined && until !== undefined && since >= until) {
        throw badRequest("since must be before until");
      }
      const page = await deps.listing.list({
        ...(status !== undefined ? { status } : {}),
        ...(protocol !== undefined ? { protocol } : {}),
        ...(participant !== undefined ? { participant } : {}),
        ...(since !== undefined ? { since } : {}),
        ...(until !== undefined ? { until } : {}),
        limit: query.limit ?? DEFAULT_PAGE_SIZE,
        ...(cursor !== undefined ? { cursor } : {}),
      });
      return c.json({
        transactions: page.items.map(toView),
        ...(page.nextCursor !== undefined ? { nextCursor: page.nextCursor } : {}),
      });
    } catch (err) {
      if (err instanceof InvalidCursorError) throw badRequest(err.message);
      throw err;
    }
  });

  table.mount("/transactions", adminRoutes(deps));

  table.add(getSpec, async (c) => {
    const id = pathParam(c, "id");
    if (!TX_ID.test(id)) throw notFound(`transaction`);
    const tx = await deps.store.get(id);
    if (!tx) throw notFound(`transaction ${id}`);
    return c.json(toView(tx));
  });

  return table;
}
