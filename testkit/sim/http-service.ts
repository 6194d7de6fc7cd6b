/**
 * A simulated HTTP participant for the deterministic simulation: a service that
 * keeps the contract of docs/participants.md#http-participants exactly (one
 * barrier per transaction, one per saga step, a remembered ROLLBACK, the
 * explicit `unknown_transaction` answer), behind a network that may lose the
 * request, lose the answer after the service applied it, deliver the request
 * late (after the dispatcher gave up on it), answer 5xx, or answer a bare 404
 * from a gateway that never reached the service. The real dispatcher calls it
 * through `call`, a `Caller` like the one that speaks node:http.
 *
 * Effects go to the simulation's ledger in its entry format, so the saga and
 * atomicity checks read HTTP branches as they read bank branches; its barriers
 * are read by the final-state check (nothing may be left `prepared`).
 *
 * Incarnations: an id may serve again once its record expired, and a request of
 * the earlier transaction may still arrive (held back by the network). Like a
 * correct service, this one keys its barriers and steps by the id AND the
 * request's `startedAt` (the incarnation, which also ends the Idempotency-Key),
 * so one transaction's barrier never answers another's request. It keeps them
 * for the whole run: concord's `finished` message never reaches a service (the
 * dispatcher drops it), so a service's barriers expire on its own schedule.
 */
import type { Caller, CallOutcome, HttpCall } from "../../src/http-participants/http-call.ts";
import { UNKNOWN_TRANSACTION } from "../../src/http-participants/http-protocol.ts";
import type { Entry } from "./ledger.ts";
import type { Random } from "./random.ts";

export type ServiceBarrierState = "prepared" | "refused" | "committed" | "rolled_back";
export type ServiceStepState = "done" | "failed" | "compensated";

export interface ServiceBarrier {
  readonly participant: string;
  readonly txId: string;
  /** The incarnation (the request's `startedAt`), named as the bank's barriers name it. */
  readonly txStartedAt: number;
  readonly state: ServiceBarrierState;
  readonly branches: readonly number[];
}

export interface ServiceStep {
  readonly participant: string;
  readonly txId: string;
  readonly txStartedAt: number;
  readonly branch: number;
  readonly state: ServiceStepState;
}

/** What the network does to one call; drawn per call while faults are on. */
export const NETWORK_FAULTS = ["none", "lost-request", "lost-answer", "late", "5xx", "gateway-404"] as const;
export type NetworkFault = (typeof NETWORK_FAULTS)[number];

/** An action input that the service refuses (409), as a business rule would. */
export const REFUSE = "refuse";

type Answer = { readonly status: number; readonly body: unknown };

// biome-ignore lint/suspicious/noExplicitAny: the body is whatever the dispatcher sent
type Body = any;

export interface SimulatedHttpService {
  readonly name: string;
  readonly call: Caller;
  /** Requests the network holds back: each is applied by `deliverLate`, its answer going nowhere. */
  late(): number;
  /** Applies one held-back request, picked at random; says which. */
  deliverLate(): string;
  barriers(): ServiceBarrier[];
  steps(): ServiceStep[];
}

export interface SimulatedHttpServiceOptions {
  readonly name: string;
  readonly rng: Random;
  /** The fault for this call; `none` once the faults phase is over. */
  readonly fault: () => NetworkFault;
  /** Where applied effects are recorded (the simulation's ledger). */
  readonly record: (entry: Entry) => void;
  /** Something only a broken coordinator or dispatcher sends (a COMMIT it never prepared). */
  readonly violation: (detail: string) => void;
  /** Crash the dispatcher after the service applied a call (its answer lost with the process). */
  readonly afterCall: () => void;
  /** The service is down for this endpoint now (it answers 503): a long outage. */
  readonly down?: (endpoint: string) => boolean;
  /** Yield as I/O would, so concurrent handlers interleave. */
  readonly yieldSome: () => Promise<void>;
}

const refused = (reason: string): Answer => ({ status: 409, body: { reason } });
const ok: Answer = { status: 200, body: { ok: true } };

export function createSimulatedHttpService(options: SimulatedHttpServiceOptions): SimulatedHttpService {
  const { name, record, violation } = options;
  const barriers = new Map<string, ServiceBarrier>();
  const steps = new Map<string, ServiceStep>();
  const held: { endpoint: string; body: Body }[] = [];

  const keyOf = (txId: string, startedAt: number) => `${txId}@${startedAt}`;
  /**
   * The request's incarnation. A decision of an older version names none: it is
   * read as the latest incarnation this service holds for the id.
   */
  const incarnationOf = (body: Body): number => {
    if (typeof body.startedAt === "string") return Date.parse(body.startedAt);
    const held = [...barriers.values()].filter((b) => b.txId === body.txId).map((b) => b.txStartedAt);
    return held.length > 0 ? Math.max(...held) : 0;
  };
  const setBarrier = (
    txId: string,
    txStartedAt: number,
    state: ServiceBarrierState,
    branches: readonly number[] = [],
  ) => barriers.set(keyOf(txId, txStartedAt), { participant: name, txId, txStartedAt, state, branches });
  const setStep = (txId: string, txStartedAt: number, branch: number, state: ServiceStepState) =>
    steps.set(`${keyOf(txId, txStartedAt)}#${branch}`, {
      participant: name,
      txId,
      txStartedAt,
      branch,
      state,
    });

  /** The service itself: barrier first, so every endpoint is idempotent and order-proof. */
  function serve(endpoint: string, body: Body): Answer {
    const txId: string = body.txId;
    const startedAt = incarnationOf(body);
    const barrier = barriers.get(keyOf(txId, startedAt));
    const at = { txId, startedAt };
    switch (endpoint) {
      case "prepare": {
        if (barrier)
          return barrier.state === "prepared" || barrier.state === "committed" ? ok : refused(barrier.state);
        const branches: number[] = body.branches.map((b: Body) => b.branch);
        if (body.branches.some((b: Body) => b.input?.[REFUSE] === true)) {
          setBarrier(txId, startedAt, "refused", branches);
          return refused("limit_exceeded");
        }
        setBarrier(txId, startedAt, "prepared", branches);
        return ok;
      }
      case "commit":
        if (barrier?.state === "committed") return ok;
        if (barrier?.state !== "prepared") {
          violation(`${name} was sent COMMIT for ${txId} with its barrier ${barrier?.state ?? "absent"}`);
          return refused("not_prepared");
        }
        setBarrier(txId, startedAt, "committed", barrier.branches);
        record({ kind: "commit", ...at, participant: name, branches: barrier.branches });
        return ok;
      case "rollback":
        if (barrier?.state === "committed") {
          violation(`${name} was sent ROLLBACK for ${txId}, which it committed`);
          return refused("committed");
        }
        if (!barrier) {
          // Remembered, so a late PREPARE is refused; and said explicitly, as the contract asks.
          setBarrier(txId, startedAt, "rolled_back");
          return { status: 404, body: { error: { code: UNKNOWN_TRANSACTION, message: "never prepared" } } };
        }
        if (barrier.state === "prepared") setBarrier(txId, startedAt, "rolled_back", barrier.branches);
        return ok;
      case "action": {
        const branch: number = body.branch;
        const step = steps.get(`${keyOf(txId, startedAt)}#${branch}`);
        if (step)
          return step.state === "done"
            ? ok
            : refused(step.state === "failed" ? "limit_exceeded" : "compensated");
        if (body.input?.[REFUSE] === true) {
          setStep(txId, startedAt, branch, "failed");
          record({ kind: "failed", ...at, branch });
          return refused("limit_exceeded");
        }
        setStep(txId, startedAt, branch, "done");
        record({ kind: "action", ...at, branch, applied: true });
        return ok;
      }
      case "compensate": {
        const branch: number = body.branch;
        const step = steps.get(`${keyOf(txId, startedAt)}#${branch}`);
        if (step?.state === "compensated") return ok;
        if (body.atomic === true) {
          // What to undo is what this transaction's COMMIT applied here.
          if (barrier?.state === "prepared") return { status: 503, body: { reason: "awaiting_decision" } };
          if (!barrier) setBarrier(txId, startedAt, "rolled_back");
          const applied = barrier?.state === "committed" && barrier.branches.includes(branch);
          setStep(txId, startedAt, branch, "compensated");
          record({ kind: "compensation", ...at, branch, applied });
          return ok;
        }
        setStep(txId, startedAt, branch, "compensated");
        record({ kind: "compensation", ...at, branch, applied: step?.state === "done" });
        return ok;
      }
      default:
        violation(`${name} was called at /${endpoint}`);
        return { status: 404, body: {} };
    }
  }

  const answer = (a: Answer): CallOutcome => ({
    kind: "response",
    status: a.status,
    body: JSON.stringify(a.body),
  });
  const endpointOf = (call: HttpCall) => call.url.pathname.split("/").at(-1) ?? "";

  const call: Caller = async (request) => {
    await options.yieldSome();
    const endpoint = endpointOf(request);
    const body = request.body as Body;
    if (options.down?.(endpoint)) return { kind: "response", status: 503, body: "" };
    switch (options.fault()) {
      case "lost-request":
        return { kind: "timeout" };
      case "5xx":
        return { kind: "response", status: options.rng.pick([500, 502, 503]), body: "" };
      case "gateway-404":
        // A gateway (or a deploy) that never reached the service: not its explicit answer.
        return { kind: "response", status: 404, body: "<html><body>Not Found</body></html>" };
      case "late":
        held.push({ endpoint, body });
        return { kind: "timeout" };
      case "lost-answer":
        serve(endpoint, body);
        return { kind: "timeout" };
      case "none": {
        const a = serve(endpoint, body);
        options.afterCall();
        return answer(a);
      }
    }
  };

  return {
    name,
    call,
    late: () => held.length,
    deliverLate() {
      const request = held.splice(options.rng.int(held.length), 1)[0];
      if (!request) return "nothing";
      const { status } = serve(request.endpoint, request.body);
      const branch = request.body.branch !== undefined ? `#${request.body.branch}` : "";
      const incarnation = request.body.startedAt ? `@${Date.parse(request.body.startedAt)}` : "";
      return `${request.endpoint} ${request.body.txId}${incarnation}${branch}, answered ${status} to no one`;
    },
    barriers: () => [...barriers.values()],
    steps: () => [...steps.values()],
  };
}
