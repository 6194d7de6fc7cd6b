/**
 * A small HTTP participant for tests: a Hono app on 127.0.0.1 (a free port)
 * that records every call and answers as each endpoint is told to — 200, a
 * refusal, an error a few times, never (to time out), or applies the call and
 * then never answers (the answer lost on the way back). Keyed by the
 * Idempotency-Key, it applies each step once however often it is called, as
 * the contract asks of a real participant.
 */
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { Hono } from "hono";

export type Endpoint = "prepare" | "commit" | "rollback" | "action" | "compensate";

/**
 * What one call gets: a status (and body), or no answer at all. `lost`: the
 * service applies the call as that status says, and the answer never arrives.
 */
export type Answer = { readonly status: number; readonly body?: unknown; readonly lost?: boolean } | "hang";

/**
 * The contract's answer to a ROLLBACK for a transaction the service never saw
 * (docs/participants.md): the only 404 that acknowledges one.
 */
export const unknownTransaction: Answer = {
  status: 404,
  body: { error: { code: "unknown_transaction", message: "no such transaction here" } },
};

export interface Call {
  readonly endpoint: Endpoint;
  readonly key: string | undefined;
  /** The W3C traceparent header concord sent. */
  readonly traceparent: string | undefined;
  // biome-ignore lint/suspicious/noExplicitAny: the body is whatever concord sent
  readonly body: any;
}

export interface HttpService {
  readonly url: string;
  readonly calls: Call[];
  /** Keys of the steps applied (first success of each Idempotency-Key). */
  readonly applied: Set<string>;
  /** How an endpoint answers its nth call (n counts from 1, per endpoint). */
  answer(endpoint: Endpoint, how: (n: number, body: unknown) => Answer): void;
  callsTo(endpoint: Endpoint): Call[];
  stop(): Promise<void>;
}

export async function startHttpService(): Promise<HttpService> {
  const calls: Call[] = [];
  const applied = new Set<string>();
  const rules = new Map<Endpoint, (n: number, body: unknown) => Answer>();
  const counts = new Map<Endpoint, number>();
  const hanging: (() => void)[] = [];
  const app = new Hono();

  app.post("/:endpoint", async (c) => {
    const endpoint = c.req.param("endpoint") as Endpoint;
    const body = await c.req.json();
    const key = c.req.header("idempotency-key");
    calls.push({ endpoint, key, traceparent: c.req.header("traceparent"), body });
    const n = (counts.get(endpoint) ?? 0) + 1;
    counts.set(endpoint, n);
    const how = rules.get(endpoint)?.(n, body) ?? { status: 200, body: { ok: true } };
    if (how !== "hang" && how.status >= 200 && how.status < 300 && key) applied.add(key);
    if (how === "hang" || how.lost) {
      await new Promise<void>((resolve) => hanging.push(resolve));
      return c.body(null, 503);
    }
    return c.json((how.body ?? {}) as object, how.status as 200);
  });

  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    applied,
    answer: (endpoint, how) => rules.set(endpoint, how),
    callsTo: (endpoint) => calls.filter((c) => c.endpoint === endpoint),
    stop: () =>
      new Promise<void>((resolve) => {
        for (const release of hanging.splice(0)) release();
        server.close(() => resolve());
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      }),
  };
}
