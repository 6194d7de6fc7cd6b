/**
 * A kit participant over a ledger in memory, for the tests: `prepare` holds
 * points, `commit` applies them, `rollback` releases them, an action applies,
 * its compensation takes back what it applied. Every rule call is recorded,
 * and requests go through `app.request()` as concord would send them.
 */
import { Hono } from "hono";
import { participantApp } from "../src/hono.ts";
import { createMemoryBarrierStore } from "../src/memory-store.ts";
import type { Endpoint } from "../src/request.ts";
import { done, failed, no, type SagaRules, type TwoPhaseRules, yes } from "../src/rules.ts";
import type { BarrierStore } from "../src/store.ts";

export const T0 = Date.parse("2026-01-01T00:00:00.000Z");
export const STARTED = new Date(T0 - 1_000).toISOString();
export const DEADLINE = new Date(T0 + 60_000).toISOString();
export const TX = "tx-1";
export const PARTICIPANT = "loyalty";

export interface Reply {
  readonly status: number;
  // biome-ignore lint/suspicious/noExplicitAny: tests read whatever JSON the kit answered
  readonly body: any;
}

/** The bodies concord's dispatcher POSTs (src/http-participants/http-protocol.ts). */
export const bodies = {
  prepare: (o: { action?: string; startedAt?: string; deadline?: string; branches?: number[] } = {}) => ({
    txId: TX,
    participant: PARTICIPANT,
    branches: (o.branches ?? [0]).map((branch) => ({
      branch,
      action: o.action ?? "earn",
      input: { member: "ada", points: 5 },
    })),
    deadline: o.deadline ?? DEADLINE,
    startedAt: o.startedAt ?? STARTED,
  }),
  commit: (o: { startedAt?: string | null } = {}) => decision(o.startedAt),
  rollback: (o: { startedAt?: string | null } = {}) => decision(o.startedAt),
  action: (o: { action?: string; startedAt?: string; deadline?: string } = {}) => ({
    txId: TX,
    participant: PARTICIPANT,
    branch: 1,
    action: o.action ?? "earn",
    input: { member: "ada", points: 5 },
    deadline: o.deadline ?? DEADLINE,
    startedAt: o.startedAt ?? STARTED,
  }),
  compensate: (o: { atomic?: boolean; startedAt?: string } = {}) => ({
    txId: TX,
    participant: PARTICIPANT,
    branch: 1,
    action: "redeem",
    input: { member: "ada", points: 5 },
    startedAt: o.startedAt ?? STARTED,
    ...(o.atomic ? { atomic: true } : {}),
  }),
};

function decision(startedAt: string | null | undefined) {
  return {
    txId: TX,
    participant: PARTICIPANT,
    ...(startedAt === null ? {} : { startedAt: startedAt ?? STARTED }),
  };
}

export interface Rig {
  readonly store: BarrierStore;
  /** Rule calls, in order: `prepare`, `commit`, ... */
  readonly calls: string[];
  /** Points held (prepared, not yet decided) and applied, per transaction. */
  readonly ledger: { held: number; applied: number };
  send(endpoint: Endpoint, body: unknown, headers?: Record<string, string>): Promise<Reply>;
  advance(ms: number): void;
  /** The next call of this rule waits until the returned function is called (throws if `fail`). */
  hold(rule: string): { release: (fail?: boolean) => void };
}

export function rig(options: { store?: BarrierStore; secret?: string; leaseMs?: number } = {}): Rig {
  const store = options.store ?? createMemoryBarrierStore();
  const calls: string[] = [];
  const ledger = { held: 0, applied: 0 };
  let now = T0;
  const holds = new Map<string, Promise<void>>();
  const gate = async (rule: string) => {
    calls.push(rule);
    const held = holds.get(rule);
    if (held) {
      holds.delete(rule);
      await held;
    }
  };
  const twoPhase: TwoPhaseRules = {
    async prepare(ctx) {
      await gate("prepare");
      if (ctx.branches.some((b) => b.action === "redeem"))
        return no("not_enough_points", ctx.branches[0]?.branch);
      ledger.held += 5;
      return yes({ points: 5 });
    },
    async commit(ctx) {
      await gate("commit");
      const { points } = ctx.data as { points: number };
      ledger.held -= points;
      ledger.applied += points;
    },
    async rollback(ctx) {
      await gate("rollback");
      // After a crash in prepare there is no data: release whatever this transaction holds.
      ledger.held -= (ctx.data as { points: number } | undefined)?.points ?? ledger.held;
    },
  };
  const saga: SagaRules = {
    async action(ctx) {
      await gate("action");
      if (ctx.action === "redeem") return failed("not_enough_points");
      ledger.applied += 5;
      return done({ points: 5 });
    },
    async compensate(ctx) {
      await gate("compensate");
      ledger.applied -= (ctx.data as { points: number } | undefined)?.points ?? 0;
    },
  };
  const app = new Hono().route(
    "/concord",
    participantApp({
      store,
      twoPhase,
      saga,
      ...(options.secret ? { secret: options.secret } : { allowUnsigned: true }),
      leaseMs: options.leaseMs ?? 10_000,
      clock: () => now,
    }),
  );
  return {
    store,
    calls,
    ledger,
    async send(endpoint, body, headers = {}) {
      const res = await app.request(`/concord/${endpoint}`, {
        method: "POST",
        body: typeof body === "string" ? body : JSON.stringify(body),
        headers: { "content-type": "application/json", ...headers },
      });
      return { status: res.status, body: await res.json() };
    },
    advance: (ms) => {
      now += ms;
    },
    hold(rule) {
      let release!: (fail?: boolean) => void;
      holds.set(
        rule,
        new Promise<void>((resolve, reject) => {
          release = (fail) => (fail ? reject(new Error("the rule failed")) : resolve());
        }),
      );
      return { release };
    },
  };
}
