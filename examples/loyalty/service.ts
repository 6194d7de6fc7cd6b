/**
 * A loyalty points service that takes part in concord's transactions over HTTP
 * (docs/participants.md, "HTTP participants"): `award` and `revoke` points per
 * customer, as 2PC branches and as saga actions or compensations of each other.
 *
 * Everything is in memory and lost on restart: a real service keeps its
 * barriers in the same durable store as its points, written in the same
 * transaction. What makes it correct is the barriers: one per transaction for
 * 2PC, one per (transaction, branch) for saga steps, so that every endpoint is
 * idempotent, a rollback before its prepare blocks that prepare, and a
 * compensation before its action blocks that action.
 */
import { Hono } from "hono";

const ID = /^[A-Za-z0-9_.:-]{1,128}$/;

type Op = { readonly action: "award" | "revoke"; readonly customer: string; readonly points: number };

type TwoPcBarrier =
  | { readonly state: "prepared"; readonly ops: readonly Op[] }
  | { readonly state: "committed"; readonly ops: readonly Op[] }
  | { readonly state: "refused"; readonly reason: string }
  | { readonly state: "rolled_back" };

type StepBarrier =
  | { readonly state: "done"; readonly op: Op }
  | { readonly state: "failed"; readonly reason: string }
  | { readonly state: "compensated" };

/** A business answer: 2xx, or 409 with the reason concord reports. */
type Answer = { readonly status: 200 | 409 | 503; readonly reason?: string };
const ok: Answer = { status: 200 };
const no = (reason: string): Answer => ({ status: 409, reason });
/** Not now, ask again: concord retries anything but 2xx/409/422. */
const later = (reason: string): Answer => ({ status: 503, reason });

export class LoyaltyLedger {
  readonly points = new Map<string, number>();
  /** Customers a prepared 2PC transaction holds: nobody else changes them until its decision. */
  readonly locks = new Map<string, string>();
  readonly twoPc = new Map<string, TwoPcBarrier>();
  readonly steps = new Map<string, StepBarrier>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Applies ops in order against the current points, without writing: the new balances, or a refusal. */
  private plan(ops: readonly Op[], txId: string): Map<string, number> | Answer {
    const next = new Map<string, number>();
    for (const op of ops) {
      const holder = this.locks.get(op.customer);
      if (holder !== undefined && holder !== txId) return no("lock_conflict");
      const have = next.get(op.customer) ?? this.points.get(op.customer) ?? 0;
      if (op.action === "revoke" && have < op.points) return no("not_enough_points");
      next.set(op.customer, op.action === "award" ? have + op.points : have - op.points);
    }
    return next;
  }

  private apply(next: Map<string, number>): void {
    for (const [customer, points] of next) this.points.set(customer, points);
  }

  prepare(txId: string, ops: readonly Op[], deadline: number): Answer {
    const barrier = this.twoPc.get(txId);
    // The same vote again, whatever came before: a repeat, or a rollback that got here first.
    if (barrier)
      return barrier.state === "refused" || barrier.state === "rolled_back"
        ? no(barrier.state === "refused" ? barrier.reason : "rolled_back")
        : ok;
    const refuse = (reason: string) => {
      this.twoPc.set(txId, { state: "refused", reason });
      return no(reason);
    };
    if (this.now() > deadline) return refuse("timeout");
    const planned = this.plan(ops, txId);
    if (!(planned instanceof Map)) return refuse(planned.reason ?? "refused");
    for (const op of ops) this.locks.set(op.customer, txId);
    this.twoPc.set(txId, { state: "prepared", ops });
    return ok;
  }

  commit(txId: string): Answer {
    const barrier = this.twoPc.get(txId);
    if (barrier?.state === "committed") return ok;
    // Never prepared here: a commit is a protocol violation, answered so that it is logged and retried.
    if (barrier?.state !== "prepared") return no("not_prepared");
    this.release(txId, barrier.ops);
    const planned = this.plan(barrier.ops, txId);
    // Locked since the yes vote, so the plan still holds.
    if (planned instanceof Map) this.apply(planned);
    this.twoPc.set(txId, { state: "committed", ops: barrier.ops });
    return ok;
  }

  /** Always acknowledged: a rollback of what was never prepared is remembered, so a late prepare votes no. */
  rollback(txId: string): Answer {
    const barrier = this.twoPc.get(txId);
    if (barrier === undefined) this.twoPc.set(txId, { state: "rolled_back" });
    else if (barrier.state === "prepared") {
      this.release(txId, barrier.ops);
      this.twoPc.set(txId, { state: "rolled_back" });
    }
    return ok;
  }

  private release(txId: string, ops: readonly Op[]): void {
    for (const op of ops) if (this.locks.get(op.customer) === txId) this.locks.delete(op.customer);
  }

  action(txId: string, branch: number, op: Op, deadline: number): Answer {
    const key = `${txId}/${branch}`;
    const barrier = this.steps.get(key);
    if (barrier?.state === "done") return ok;
    if (barrier?.state === "failed") return no(barrier.reason);
    // Its compensation got here first: it never applies.
    if (barrier?.state === "compensated") return no("compensated");
    const fail = (reason: string) => {
      this.steps.set(key, { state: "failed", reason });
      return no(reason);
    };
    if (this.now() > deadline) return fail("timeout");
    const planned = this.plan([op], txId);
    if (!(planned instanceof Map)) {
      // Held by a 2PC transaction: not a business failure, ask again later.
      if (planned.reason === "lock_conflict") return later("lock_conflict");
      return fail(planned.reason ?? "failed");
    }
    this.apply(planned);
    this.steps.set(key, { state: "done", op });
    return ok;
  }

  /**
   * Undoes branch `branch` with `undo` (its compensation). `atomic`: the branch ran
   * in an atomic stage, so what to undo is what its 2PC commit applied.
   */
  compensate(txId: string, branch: number, undo: Op, atomic: boolean): Answer {
    const key = `${txId}/${branch}`;
    const barrier = this.steps.get(key);
    if (barrier?.state === "compensated") return ok;
    let applied = barrier?.state === "done";
    if (atomic) {
      const group = this.twoPc.get(txId);
      if (group?.state === "prepared") return later("awaiting_decision");
      // Never prepared here: block the late prepare, as a rollback would.
      if (group === undefined) this.twoPc.set(txId, { state: "rolled_back" });
      applied = group?.state === "committed";
    }
    if (applied) {
      const planned = this.plan([undo], txId);
      // It must succeed in the end: answer "later" and concord asks again.
      if (!(planned instanceof Map)) return later(planned.reason ?? "cannot_compensate");
      this.apply(planned);
    }
    // Compensated, whether there was something to undo or not: a late action now fails.
    this.steps.set(key, { state: "compensated" });
    return ok;
  }
}

/** One operation from a branch's action and input, or why not. */
function opOf(action: unknown, input: unknown): Op | string {
  if (action !== "award" && action !== "revoke") return `unknown action ${String(action)}`;
  const i = (input ?? {}) as { customer?: unknown; points?: unknown };
  if (typeof i.customer !== "string" || !ID.test(i.customer))
    return "customer ids are 1-128 characters of A-Z a-z 0-9 _ . : -";
  if (typeof i.points !== "number" || !Number.isSafeInteger(i.points) || i.points <= 0)
    return "points are a positive integer";
  return { action, customer: i.customer, points: i.points };
}

const time = (iso: unknown): number => (typeof iso === "string" ? Date.parse(iso) : Number.NaN);

/** The HTTP side: concord's five endpoints under `/concord`, and a read of one customer's points. */
export function loyaltyApp(ledger = new LoyaltyLedger()): Hono {
  const app = new Hono();
  const answer = (a: Answer) =>
    new Response(JSON.stringify(a.reason ? { reason: a.reason } : { ok: true }), {
      status: a.status,
      headers: { "content-type": "application/json" },
    });
  // biome-ignore lint/suspicious/noExplicitAny: a request body is checked field by field below
  const body = async (req: Request): Promise<any> => req.json().catch(() => ({}));

  app.post("/concord/prepare", async (c) => {
    const b = await body(c.req.raw);
    const ops = (Array.isArray(b.branches) ? b.branches : []).map((x: { action: unknown; input: unknown }) =>
      opOf(x.action, x.input),
    );
    const bad = ops.find((o: Op | string) => typeof o === "string");
    // An input this service cannot run is a no vote, remembered like any other.
    if (bad !== undefined || ops.length === 0) {
      if (!ledger.twoPc.has(b.txId))
        ledger.twoPc.set(b.txId, { state: "refused", reason: bad ?? "no branches" });
    }
    return answer(ledger.prepare(b.txId, ops as Op[], time(b.deadline)));
  });
  app.post("/concord/commit", async (c) => answer(ledger.commit((await body(c.req.raw)).txId)));
  app.post("/concord/rollback", async (c) => answer(ledger.rollback((await body(c.req.raw)).txId)));
  app.post("/concord/action", async (c) => {
    const b = await body(c.req.raw);
    const op = opOf(b.action, b.input);
    if (typeof op === "string") {
      const key = `${b.txId}/${b.branch}`;
      if (!ledger.steps.has(key)) ledger.steps.set(key, { state: "failed", reason: op });
      return answer(
        ledger.action(b.txId, b.branch, { action: "award", customer: "-", points: 1 }, time(b.deadline)),
      );
    }
    return answer(ledger.action(b.txId, b.branch, op, time(b.deadline)));
  });
  app.post("/concord/compensate", async (c) => {
    const b = await body(c.req.raw);
    const op = opOf(b.action, b.input);
    // A compensation this service cannot run must not be acknowledged: it would undo nothing.
    if (typeof op === "string") return answer(later(op));
    return answer(ledger.compensate(b.txId, b.branch, op, b.atomic === true));
  });
  app.get("/customers/:customer", (c) => {
    const customer = c.req.param("customer");
    return c.json({ customer, points: ledger.points.get(customer) ?? 0 });
  });
  return app;
}
