/**
 * A kit participant over a ledger in memory, for the tests: `prepare` holds
 * points, `commit` applies them, `rollback` releases them, an action applies,
 * its compensation takes back what it applied. Every rule call is recorded,
 * and requests go through `app.request()` as concord would send them.
 */
import { Hono } from "hono";
import type { WriteMode } from "../src/handler.ts";
import { participantApp } from "../src/hono.ts";
import { createMemoryBarrierStore, type MemoryBarrierStore } from "../src/memory-store.ts";
import type { Endpoint } from "../src/request.ts";
import { done, failed, no, type SagaRules, type TwoPhaseRules, yes } from "../src/rules.ts";
import type { BarrierStore, Write } from "../src/store.ts";

const LEDGER = "ledger";

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

/** Thrown by a store that "dies" right after its write: the answer never leaves (the dispatcher sees a 500). */
export class CrashAfterWrite extends Error {
  override name = "CrashAfterWrite";
}

/**
 * `mode: "transactional"`: the same ledger kept as an item of the store,
 * written only through the writes the rules return. `crashAfterWrite`: asked
 * after every write that carried business writes; true makes the process
 * "die" there, after the write and before the answer.
 */
export function rig(
  options: {
    store?: MemoryBarrierStore;
    secret?: string;
    leaseMs?: number;
    mode?: WriteMode;
    crashAfterWrite?: () => boolean;
  } = {},
): Rig {
  const memory = options.store ?? createMemoryBarrierStore();
  const store: BarrierStore = options.crashAfterWrite
    ? {
        ...memory,
        get: (k, i) => memory.get(k, i),
        newest: (k) => memory.newest(k),
        readItem: (k) => memory.readItem(k),
        async put(record, expected, writes) {
          const result = await memory.put(record, expected, writes);
          if (result.written && writes && writes.length > 0 && options.crashAfterWrite?.()) {
            throw new CrashAfterWrite();
          }
          return result;
        },
      }
    : memory;
  const transactional = options.mode === "transactional";
  const calls: string[] = [];
  const own = { held: 0, applied: 0 };
  const ledger = transactional
    ? {
        get held() {
          return Number(memory.items.get(LEDGER)?.held ?? 0);
        },
        get applied() {
          return Number(memory.items.get(LEDGER)?.applied ?? 0);
        },
      }
    : own;
  const add = (field: "held" | "applied", amount: number): Write => ({
    kind: "add",
    key: LEDGER,
    field,
    amount,
  });
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
  const pointsOf = (data: unknown) => (data as { points: number } | undefined)?.points;
  const twoPhase: TwoPhaseRules = {
    async prepare(ctx) {
      await gate("prepare");
      if (ctx.branches.some((b) => b.action === "redeem"))
        return no("not_enough_points", ctx.branches[0]?.branch);
      if (transactional) return yes({ points: 5 }, [add("held", 5)]);
      own.held += 5;
      return yes({ points: 5 });
    },
    async commit(ctx) {
      await gate("commit");
      const points = pointsOf(ctx.data) ?? 0;
      if (transactional) return [add("held", -points), add("applied", points)];
      own.held -= points;
      own.applied += points;
    },
    async rollback(ctx) {
      await gate("rollback");
      // After a crash in prepare there is no data: release whatever this transaction holds.
      if (transactional) return [add("held", -(pointsOf(ctx.data) ?? 0))];
      own.held -= pointsOf(ctx.data) ?? own.held;
    },
  };
  const saga: SagaRules = {
    async action(ctx) {
      await gate("action");
      if (ctx.action === "redeem") return failed("not_enough_points");
      if (transactional) return done({ points: 5 }, [add("applied", 5)]);
      own.applied += 5;
      return done({ points: 5 });
    },
    async compensate(ctx) {
      await gate("compensate");
      if (transactional) return [add("applied", -(pointsOf(ctx.data) ?? 0))];
      own.applied -= pointsOf(ctx.data) ?? 0;
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
      mode: options.mode ?? "own-io",
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
      const text = await res.text();
      // A crashed delivery's 500 is the server's plain text, not the kit's.
      return { status: res.status, body: res.status === 500 ? text : JSON.parse(text) };
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
