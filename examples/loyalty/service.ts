/**
 * A loyalty points service that takes part in concord's transactions over
 * HTTP, built on the participant kit (`@concord/participant`): `award` and
 * `revoke` points per customer, as 2PC branches and as saga actions or
 * compensations of each other.
 *
 * The rules only read; they return their writes, and the kit's store commits
 * them with the barrier's transition in one atomic write (`transactional`
 * mode) — in memory by default, in one DynamoDB table with `--dynamodb`. So a
 * crash after that write and before the answer changes nothing twice: the
 * re-sent message meets the barrier and gets the recorded answer. The kit does
 * the rest: duplicates, a rollback before its prepare, a compensation before
 * its action, incarnations, deadlines, the signature check.
 *
 * 2PC by reservation: a `revoke` takes its points at prepare (so they cannot
 * be spent twice) and gives them back on rollback; an `award` adds on commit.
 */
import { Hono } from "hono";
import { participantApp } from "../../packages/participant/src/hono.ts";
import { createMemoryBarrierStore } from "../../packages/participant/src/memory-store.ts";
import { done, failed, no, RetryLaterError, type Writes, yes } from "../../packages/participant/src/rules.ts";
import type { BarrierStore, Write } from "../../packages/participant/src/store.ts";

const ID = /^[A-Za-z0-9_.:-]{1,128}$/;

type Op = { readonly action: "award" | "revoke"; readonly customer: string; readonly points: number };

/** One operation from a branch's action and input, or why not. */
export function opOf(action: unknown, input: unknown): Op | string {
  if (action !== "award" && action !== "revoke") return `unknown action ${String(action)}`;
  const i = (input ?? {}) as { customer?: unknown; points?: unknown };
  if (typeof i.customer !== "string" || !ID.test(i.customer))
    return "customer ids are 1-128 characters of A-Z a-z 0-9 _ . : -";
  if (typeof i.points !== "number" || !Number.isSafeInteger(i.points) || i.points <= 0)
    return "points are a positive integer";
  return { action, customer: i.customer, points: i.points };
}

const itemKey = (customer: string) => `customer#${customer}`;

/** The net change per customer of some ops (one write per customer: a DynamoDB transaction names an item once). */
function netChange(ops: readonly Op[]): Map<string, number> {
  const net = new Map<string, number>();
  for (const op of ops) {
    net.set(op.customer, (net.get(op.customer) ?? 0) + (op.action === "award" ? op.points : -op.points));
  }
  return net;
}

/** Writes that apply `net`; a take never drives a balance below zero (checked in the same write). */
const writesOf = (net: Map<string, number>): Writes =>
  [...net]
    .filter(([, amount]) => amount !== 0)
    .map(
      ([customer, amount]): Write => ({
        kind: "add",
        key: itemKey(customer),
        field: "points",
        amount,
        ...(amount < 0 ? { atLeast: 0 } : {}),
      }),
    );

export interface LoyaltyOptions {
  /** Where points and barriers live; in memory (lost on restart) by default. */
  readonly store?: BarrierStore;
  /** The secret concord signs with (`CONCORD_HTTP_PARTICIPANT_SECRET`); without one, calls are not checked. */
  readonly secret?: string;
  readonly clock?: () => number;
}

/** The HTTP side: concord's five endpoints under `/concord`, and a read of one customer's points. */
export function loyaltyApp(options: LoyaltyOptions = {}): Hono {
  const store = options.store ?? createMemoryBarrierStore();
  const pointsOf = async (customer: string) => Number((await store.readItem(itemKey(customer)))?.points ?? 0);
  /** Whether every take in `net` finds enough points: the customer that does not, else undefined. */
  const short = async (net: Map<string, number>) => {
    for (const [customer, amount] of net) {
      if (amount < 0 && (await pointsOf(customer)) < -amount) return customer;
    }
    return undefined;
  };

  const concord = participantApp({
    store,
    mode: "transactional",
    ...(options.secret ? { secret: options.secret } : { allowUnsigned: true }),
    ...(options.clock ? { clock: options.clock } : {}),
    twoPhase: {
      async prepare({ branches }) {
        const ops: (Op & { branch: number })[] = [];
        for (const b of branches) {
          const op = opOf(b.action, b.input);
          // An input this service cannot run is a no vote, remembered like any other.
          if (typeof op === "string") return no(op, b.branch);
          ops.push({ ...op, branch: b.branch });
        }
        const revokes = netChange(ops.filter((op) => op.action === "revoke"));
        const customer = await short(revokes);
        if (customer !== undefined) {
          const branch = ops.find((op) => op.action === "revoke" && op.customer === customer)?.branch;
          return no("not_enough_points", branch);
        }
        // Reserve: the revoked points are taken now; awards wait for the commit.
        return yes({ ops }, writesOf(revokes));
      },
      async commit({ data }) {
        const { ops } = data as { ops: Op[] };
        return writesOf(netChange(ops.filter((op) => op.action === "award")));
      },
      async rollback({ data }) {
        // A refused or never-finished prepare took nothing (its writes come with its barrier, or not at all).
        const ops = (data as { ops: Op[] } | undefined)?.ops ?? [];
        const revokes = ops.filter((op) => op.action === "revoke");
        return writesOf(netChange(revokes.map((op) => ({ ...op, action: "award" }))));
      },
    },
    saga: {
      async action({ action, input }) {
        const op = opOf(action, input);
        if (typeof op === "string") return failed(op);
        const net = netChange([op]);
        if ((await short(net)) !== undefined) return failed("not_enough_points");
        return done({ op }, writesOf(net));
      },
      // `action` and `input` are the compensation's (revoke what an award added, and the reverse).
      async compensate({ action, input }) {
        const op = opOf(action, input);
        // A compensation this service cannot run must never be acknowledged: it would undo nothing.
        if (typeof op === "string") throw new RetryLaterError(op);
        const net = netChange([op]);
        // It must succeed in the end: ask concord to come back.
        if ((await short(net)) !== undefined) throw new RetryLaterError("not_enough_points");
        return writesOf(net);
      },
    },
  });

  const app = new Hono();
  app.route("/concord", concord);
  app.get("/customers/:customer", async (c) => {
    const customer = c.req.param("customer");
    return c.json({ customer, points: await pointsOf(customer) });
  });
  return app;
}
