/**
 * The participant: a plain `(Request) => Promise<Response>` serving
 * `/prepare`, `/commit`, `/rollback`, `/action` and `/compensate` under any
 * prefix. Per request: check the signature (401, nothing runs), parse the body
 * (400), then carry out the barrier's plan — each write conditional on the
 * version read, the rule run only under a claim no other delivery holds.
 */
import { decide, keysOf } from "./barrier.ts";
import { type Answer, type Plan, SETTLED } from "./barrier-plan.ts";
import {
  ENDPOINTS,
  type Endpoint,
  InvalidRequestError,
  type ParticipantRequest,
  parseRequest,
} from "./request.ts";
import {
  RetryLaterError,
  type SagaRules,
  type StepOutcome,
  type TwoPhaseRules,
  type Vote,
  type Writes,
} from "./rules.ts";
import { DEFAULT_MAX_SKEW_MS, SIGNATURE_HEADER, verifySignature } from "./signature.ts";
import type { BarrierRecord, BarrierStore } from "./store.ts";

/**
 * How a rule's effects reach the service's state.
 *
 * - `transactional`: the rules read, and return their writes (`yes(data,
 *   writes)`, `done(data, writes)`, or the writes from `commit`, `rollback`,
 *   `compensate`); the store commits them in one atomic write with the
 *   barrier's transition, conditional on the barrier's version. Effects apply
 *   exactly once whatever crashes, duplicates or overlaps come; a rule may be
 *   run more than once (two copies at once, or a retry after a write that lost
 *   a race), so it must do no I/O of its own but reads.
 * - `own-io` (default): the rules do their own I/O. A delivery claims the step
 *   under a lease (`leaseMs`) before the rule runs and records the outcome
 *   after, so a crash in between runs the rule again once the lease ran out:
 *   at least once, the rule must tolerate a re-run.
 */
export type WriteMode = "transactional" | "own-io";

export interface ParticipantOptions {
  readonly store: BarrierStore;
  /** Default `own-io`; see {@link WriteMode}. */
  readonly mode?: WriteMode;
  /** 2PC rules; without them `/prepare` votes no (`2pc_not_supported`). */
  readonly twoPhase?: TwoPhaseRules;
  /** Saga rules; without them `/action` fails (`saga_not_supported`). */
  readonly saga?: SagaRules;
  /**
   * The secret shared with concord (`CONCORD_HTTP_PARTICIPANT_SECRET`), or
   * several while rotating it. Requests without a valid `Concord-Signature`
   * get 401 and run nothing.
   */
  readonly secret?: string | readonly string[];
  /** Accept unsigned requests: only for a service nobody else can reach (tests, one machine). */
  readonly allowUnsigned?: boolean;
  /** Largest distance between the signature's time and this clock (default 5 minutes). */
  readonly maxSkewMs?: number;
  /**
   * How long a delivery holds a step while its rule runs (default 30 s). Past
   * it, a duplicate delivery takes the step over and runs the rule again: make
   * it longer than your slowest rule.
   */
  readonly leaseMs?: number;
  /** How long a settled barrier is kept (default 30 days): longer than concord may re-send a message. */
  readonly retentionSeconds?: number;
  readonly clock?: () => number;
  /** Told about every rule that threw (the answer is a 503, and concord retries). */
  readonly onError?: (error: unknown, request: ParticipantRequest) => void;
}

export type ParticipantHandler = (request: Request) => Promise<Response>;

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });

const error = (status: number, code: string, message: string, headers?: Record<string, string>) =>
  json(status, { error: { code, message } }, headers);

/** 503 with Retry-After: concord's dispatcher retries anything that is not 2xx, 409 or 422. */
const comeBack = (code: string, message: string) => error(503, code, message, { "retry-after": "1" });

const MAX_ATTEMPTS = 5;

export function createParticipantHandler(options: ParticipantOptions): ParticipantHandler {
  const { store, twoPhase, saga } = options;
  const secrets = options.secret === undefined ? [] : [options.secret].flat();
  if (secrets.length === 0 && !options.allowUnsigned) {
    throw new Error("give the secret shared with concord (secret), or allowUnsigned: true to accept anyone");
  }
  const clock = options.clock ?? Date.now;
  const mode = options.mode ?? "own-io";
  const leaseMs = options.leaseMs ?? 30_000;
  const retentionSeconds = options.retentionSeconds ?? 30 * 86_400;
  const maxSkewMs = options.maxSkewMs ?? DEFAULT_MAX_SKEW_MS;

  const stepKeyOf = (req: ParticipantRequest) =>
    [
      req.txId,
      req.participant,
      req.endpoint,
      ...("branch" in req ? [req.branch] : []),
      ...(req.startedAt ? [req.startedAt] : []),
    ].join("/");

  /** Runs the business rule; what it returns becomes the barrier's next state and the answer. */
  async function runRule(
    plan: Plan & { kind: "run" },
    req: ParticipantRequest,
  ): Promise<{
    state: BarrierRecord["state"];
    reason?: string;
    data?: unknown;
    writes?: Writes | undefined;
    answer: Answer;
  }> {
    const base = {
      txId: req.txId,
      participant: req.participant,
      key: stepKeyOf(req),
      ...(req.startedAt ? { startedAt: req.startedAt } : {}),
    };
    const branch = plan.branches[0] ?? { branch: 0, action: "", input: undefined };
    switch (plan.rule) {
      case "prepare": {
        if (!twoPhase || req.endpoint !== "prepare") {
          return { state: "refused", reason: "2pc_not_supported", answer: refuse("2pc_not_supported") };
        }
        const vote: Vote = await twoPhase.prepare({
          ...base,
          branches: req.branches,
          deadline: req.deadline,
        });
        return vote.vote === "yes"
          ? {
              state: "prepared",
              data: vote.data,
              writes: vote.writes,
              answer: { status: 200, body: { vote: "yes" } },
            }
          : { state: "refused", reason: vote.reason, answer: refuse(vote.reason, vote.branch) };
      }
      case "commit":
        if (!twoPhase) throw new RetryLaterError("2pc_not_supported");
        return {
          state: "committed",
          data: plan.data,
          writes: (await twoPhase.commit({ ...base, branches: plan.branches, data: plan.data })) ?? undefined,
          answer: { status: 200, body: { acknowledged: true } },
        };
      case "rollback":
        if (!twoPhase) throw new RetryLaterError("2pc_not_supported");
        return {
          state: "rolled_back",
          data: plan.data,
          writes:
            (await twoPhase.rollback({ ...base, branches: plan.branches, data: plan.data })) ?? undefined,
          answer: { status: 200, body: { acknowledged: true } },
        };
      case "action": {
        if (!saga || req.endpoint !== "action") {
          return { state: "failed", reason: "saga_not_supported", answer: refuse("saga_not_supported") };
        }
        const result: StepOutcome = await saga.action({ ...base, ...branch, deadline: req.deadline });
        return result.outcome === "done"
          ? {
              state: "done",
              data: result.data,
              writes: result.writes,
              answer: { status: 200, body: { outcome: "done" } },
            }
          : { state: "failed", reason: result.reason, answer: refuse(result.reason) };
      }
      case "compensate":
        if (!saga) throw new RetryLaterError("saga_not_supported");
        return {
          state: "compensated",
          data: plan.data,
          writes:
            (await saga.compensate({
              ...base,
              ...branch,
              atomic: req.endpoint === "compensate" && req.atomic,
              data: plan.data,
            })) ?? undefined,
          answer: { status: 200, body: { outcome: "compensated" } },
        };
    }
  }

  const expiryFor = (state: BarrierRecord["state"], now: number) =>
    SETTLED.has(state) ? { expiresAt: Math.ceil(now / 1000) + retentionSeconds } : {};

  /** The records a request concerns, of its incarnation (or the newest held, for a decision naming none). */
  async function read(key: string | undefined, req: ParticipantRequest) {
    if (key === undefined) return undefined;
    if (req.startedAt === undefined) return store.newest(key);
    // An incarnation-less record (a ROLLBACK from an older dispatcher) belongs to whichever incarnation comes.
    return (await store.get(key, req.startedAt)) ?? (await store.get(key, undefined));
  }

  /** Runs the rule and records its outcome with its writes; `undefined`: the write lost a race, decide again. */
  async function runAndRecord(
    plan: Plan & { kind: "run" },
    req: ParticipantRequest,
    now: number,
  ): Promise<Response | undefined> {
    let held: BarrierRecord = { ...plan.claim, key: plan.key, version: plan.expectedVersion };
    let lease: { token: string; until: number } | undefined;
    if (mode === "own-io") {
      // Claim the step first: no other delivery runs the rule while this one does.
      lease = { token: crypto.randomUUID(), until: now + leaseMs };
      const claim: BarrierRecord = { ...held, version: held.version + 1, lease };
      if (!(await store.put(claim, plan.expectedVersion)).written) return undefined;
      held = { ...plan.claim, key: plan.key, version: claim.version };
    }
    let result: Awaited<ReturnType<typeof runRule>>;
    try {
      result = await runRule(plan, req);
    } catch (err) {
      options.onError?.(err, req);
      if (lease) {
        // Give the step up at once: the next delivery takes it over instead of waiting out the lease.
        await store.put({ ...held, version: held.version + 1, lease: { ...lease, until: 0 } }, held.version);
      }
      const reason = err instanceof RetryLaterError ? err.reason : "rule_failed";
      return comeBack(reason, "the step did not complete; it is sent again");
    }
    const { answer, writes, ...outcome } = result;
    const settled: BarrierRecord = {
      ...held,
      ...outcome,
      version: held.version + 1,
      ...expiryFor(outcome.state, clock()),
    };
    if ((await store.put(settled, held.version, writes ?? [])).written)
      return json(answer.status, answer.body);
    // Transactional: someone else wrote first, or a write's condition no longer holds — nothing
    // was written, so decide again (and run the rule again on what is there now).
    if (!lease) return undefined;
    // The lease ran out while the rule ran and another delivery took the step over.
    return comeBack("lease_lost", "the step was taken over by another delivery; ask again");
  }

  async function carryOut(req: ParticipantRequest): Promise<Response> {
    const keys = keysOf(req);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const [twoPhaseRecord, stepRecord] = await Promise.all([
        read(keys.twoPhase, req),
        read(keys.step, req),
      ]);
      const now = clock();
      const plan = decide(req, { twoPhase: twoPhaseRecord, step: stepRecord }, now);
      switch (plan.kind) {
        case "answer":
          return json(plan.answer.status, plan.answer.body);
        case "busy":
          return comeBack(plan.reason, "another delivery of this step is being handled; ask again");
        case "write": {
          const record: BarrierRecord = {
            ...plan.draft,
            key: plan.key,
            version: plan.expectedVersion + 1,
            ...expiryFor(plan.draft.state, now),
          };
          if ((await store.put(record, plan.expectedVersion)).written) {
            return json(plan.answer.status, plan.answer.body);
          }
          continue; // someone else wrote first: decide again on what they wrote
        }
        case "run": {
          const response = await runAndRecord(plan, req, now);
          if (response) return response;
          continue;
        }
      }
    }
    return comeBack("contention", "the barrier kept changing; ask again");
  }

  return async (request) => {
    const url = new URL(request.url);
    const endpoint = url.pathname.split("/").pop() as Endpoint;
    if (!ENDPOINTS.includes(endpoint)) return error(404, "not_found", "no such endpoint");
    if (request.method !== "POST") return error(405, "method_not_allowed", "POST only");
    const body = await request.text();
    if (secrets.length > 0) {
      const check = await verifySignature(
        request.headers.get(SIGNATURE_HEADER),
        { method: request.method, path: url.pathname, body },
        secrets,
        clock(),
        maxSkewMs,
      );
      if (!check.ok) return error(401, "unauthorized", check.why);
    }
    let req: ParticipantRequest;
    try {
      req = parseRequest(endpoint, body);
    } catch (err) {
      if (err instanceof InvalidRequestError) return error(400, "invalid_request", err.message);
      throw err;
    }
    return carryOut(req);
  };
}

function refuse(reason: string, branch?: number): Answer {
  return { status: 409, body: { reason, ...(branch !== undefined ? { branch } : {}) } };
}
