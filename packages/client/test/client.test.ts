/** The client against a fake fetch: what it sends, what it repeats, how long it waits, what it raises. */
import { describe, expect, it } from "vitest";
import { ConcordError, createClient, isConcordError, type TransactionView } from "../src/index.ts";

interface Call {
  readonly url: string;
  readonly method: string;
  readonly headers: Record<string, string>;
  readonly body?: unknown;
}

type Answer = Response | Error | ((call: Call) => Response | Error);

/** A fetch that answers from a script, one entry per call (the last repeats), and records every call. */
function fakeFetch(...answers: Answer[]) {
  const calls: Call[] = [];
  const fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const headers = Object.fromEntries(new Headers(init?.headers).entries());
    const call: Call = {
      url: String(input),
      method: init?.method ?? "GET",
      headers,
      ...(typeof init?.body === "string" ? { body: JSON.parse(init.body) } : {}),
    };
    calls.push(call);
    init?.signal?.throwIfAborted();
    const scripted = answers[Math.min(calls.length - 1, answers.length - 1)];
    const answer = typeof scripted === "function" ? scripted(call) : scripted;
    if (answer instanceof Error) throw answer;
    if (!answer) throw new Error("no answer scripted");
    return answer.clone();
  };
  return { fetch: fetch as typeof globalThis.fetch, calls };
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });
const apiError = (status: number, code: string, message = code, headers: Record<string, string> = {}) =>
  json(status, { error: { code, message } }, headers);

const view = (over: Partial<TransactionView> = {}): TransactionView => ({
  id: "tx-1",
  protocol: "2pc",
  status: "pending",
  phase: "preparing",
  createdAt: "2026-01-01T00:00:00.000Z",
  deadline: "2026-01-01T00:01:00.000Z",
  attempts: 0,
  branches: [],
  events: [],
  ...over,
});

/** A client whose pauses are recorded, not slept, on a clock they move. */
function clientWith(
  fetch: typeof globalThis.fetch,
  extra: Parameters<typeof createClient>[0] extends infer O ? Partial<O> : never = {},
) {
  let now = 1_000_000;
  const pauses: number[] = [];
  const client = createClient({
    baseUrl: "http://concord.test/",
    fetch,
    now: () => now,
    random: () => 1,
    sleep: async (ms, signal) => {
      signal?.throwIfAborted();
      pauses.push(ms);
      now += ms;
    },
    ...extra,
  });
  return { client, pauses };
}

const transfer = [{ server_id: "bank-1", account_id: "alice", operation: "deposit" as const, amount: 5 }];

describe("idempotency keys", () => {
  it("sends a new key with every begin and transfer that names none", async () => {
    const fake = fakeFetch(json(202, view()));
    const { client } = clientWith(fake.fetch);
    await client.transfer(transfer);
    await client.transfer(transfer);
    await client.begin({
      protocol: "2pc",
      branches: [{ participant: "bank-1", action: "deposit", input: {} }],
    });
    const keys = fake.calls.map((c) => c.headers["idempotency-key"]);
    expect(keys.every((k) => typeof k === "string" && /^[A-Za-z0-9_.:-]{1,128}$/.test(k))).toBe(true);
    expect(new Set(keys).size).toBe(3);
  });

  it("uses the caller's key, else the request's id", async () => {
    const fake = fakeFetch(json(201, view()));
    const { client } = clientWith(fake.fetch);
    await client.transfer(transfer, { idempotencyKey: "order-1" });
    await client.begin({ id: "order-2", protocol: "saga", branches: [] });
    expect(fake.calls.map((c) => c.headers["idempotency-key"])).toEqual(["order-1", "order-2"]);
  });

  it("repeats a begin with the same key after a 500, a 503 and a network failure, then returns its view", async () => {
    const fake = fakeFetch(
      apiError(500, "internal"),
      apiError(503, "unavailable"),
      new TypeError("fetch failed"),
      json(201, view({ status: "committed", phase: "committed" })),
    );
    const { client, pauses } = clientWith(fake.fetch);
    const result = await client.transfer(transfer, { wait: 5000 });
    expect(result.status).toBe("committed");
    expect(fake.calls).toHaveLength(4);
    expect(new Set(fake.calls.map((c) => c.headers["idempotency-key"])).size).toBe(1);
    expect(new Set(fake.calls.map((c) => JSON.stringify(c.body))).size).toBe(1);
    expect(fake.calls[0]?.url).toBe("http://concord.test/v1/transfers?wait=5000");
    // Full jitter at its bound (random() = 1): 200, 400, 800 ms.
    expect(pauses).toEqual([200, 400, 800]);
  });
});

describe("retries", () => {
  it("waits at least what Retry-After asks, for a 503 and a 429", async () => {
    const fake = fakeFetch(
      apiError(503, "unavailable", "busy", { "retry-after": "2" }),
      apiError(429, "unavailable", "slow down", { "retry-after": "3" }),
      json(200, view()),
    );
    const { client, pauses } = clientWith(fake.fetch);
    await client.get("tx-1");
    expect(pauses).toEqual([2000, 3000]);
  });

  it("gives up with the last error after maxAttempts", async () => {
    const fake = fakeFetch(apiError(503, "unavailable", "still down"));
    const { client } = clientWith(fake.fetch, { retry: { maxAttempts: 3 } });
    const err = await client.get("tx-1").catch((e: unknown) => e);
    expect(isConcordError(err, "unavailable")).toBe(true);
    expect((err as ConcordError).status).toBe(503);
    expect(fake.calls).toHaveLength(3);
  });

  it("stops when the next pause would pass its time bound, even when Retry-After asks for more", async () => {
    const fake = fakeFetch(apiError(503, "unavailable", "busy", { "retry-after": "60" }));
    const { client, pauses } = clientWith(fake.fetch, { retry: { maxElapsedMs: 10_000 } });
    await expect(client.get("tx-1")).rejects.toMatchObject({ code: "unavailable" });
    expect(fake.calls).toHaveLength(1);
    expect(pauses).toEqual([]);
  });

  it("caps its own pauses however many attempts", async () => {
    const fake = fakeFetch(new TypeError("fetch failed"));
    const { client, pauses } = clientWith(fake.fetch, {
      retry: { maxAttempts: 8, maxDelayMs: 1000, maxElapsedMs: 60_000 },
    });
    const err = await client.get("tx-1").catch((e: unknown) => e);
    expect(isConcordError(err, "unreachable")).toBe(true);
    expect((err as ConcordError).status).toBe(0);
    expect(pauses).toEqual([200, 400, 800, 1000, 1000, 1000, 1000]);
  });

  it.each([
    [400, "invalid_request"],
    [401, "unauthorized"],
    [403, "forbidden"],
    [404, "not_found"],
    [409, "idempotency_conflict"],
    [413, "payload_too_large"],
  ])("never repeats a %i: the request itself is refused (%s)", async (status, code) => {
    const fake = fakeFetch(apiError(status, code));
    const { client } = clientWith(fake.fetch);
    await expect(client.transfer(transfer)).rejects.toMatchObject({ code, status });
    expect(fake.calls).toHaveLength(1);
  });

  it("does not retry with retry: false", async () => {
    const fake = fakeFetch(apiError(503, "unavailable"));
    const { client } = clientWith(fake.fetch, { retry: false });
    await expect(client.get("tx-1")).rejects.toMatchObject({ code: "unavailable" });
    expect(fake.calls).toHaveLength(1);
  });
});

describe("typed errors", () => {
  it("carries the API's code, message, details and request id", async () => {
    const body = {
      error: { code: "invalid_request", message: "some branches are not valid", details: [{ path: "x" }] },
    };
    const fake = fakeFetch(json(400, body, { "x-request-id": "req-7" }));
    const { client } = clientWith(fake.fetch);
    const err = await client.begin({ protocol: "2pc", branches: [] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConcordError);
    expect(err).toMatchObject({
      name: "ConcordError",
      code: "invalid_request",
      status: 400,
      message: "some branches are not valid",
      details: [{ path: "x" }],
      requestId: "req-7",
    });
  });

  it("names an answer that is not the API's by its status", async () => {
    const fake = fakeFetch(new Response("<html>Bad Gateway</html>", { status: 502 }));
    const { client } = clientWith(fake.fetch, { retry: false });
    await expect(client.get("tx-1")).rejects.toMatchObject({ code: "unavailable", status: 502 });
  });

  it("sends the API key as a bearer token", async () => {
    const fake = fakeFetch(json(200, view()));
    const { client } = clientWith(fake.fetch, { apiKey: "k-123" });
    await client.abort("tx/1");
    expect(fake.calls[0]).toMatchObject({
      url: "http://concord.test/v1/transactions/tx%2F1/abort",
      method: "POST",
      headers: { authorization: "Bearer k-123" },
    });
  });
});

describe("paths", () => {
  it("encodes each segment: an id never reaches another route, a kind's path keeps its slashes", async () => {
    const fake = fakeFetch(json(200, {}));
    const { client } = clientWith(fake.fetch);
    await client.get("../participants");
    await client.getResource("payment/customers", "c 1/x");
    expect(fake.calls.map((c) => c.url)).toEqual([
      "http://concord.test/v1/transactions/..%2Fparticipants",
      "http://concord.test/v1/payment/customers/c%201%2Fx",
    ]);
  });
});

describe("the caller's signal", () => {
  it("ends a call during its pause between retries, with the signal's reason, and sends no more", async () => {
    const controller = new AbortController();
    const fake = fakeFetch(() => {
      controller.abort(new Error("caller gave up"));
      return apiError(503, "unavailable");
    });
    const { client } = clientWith(fake.fetch);
    await expect(client.get("tx-1", { signal: controller.signal })).rejects.toThrow("caller gave up");
    expect(fake.calls).toHaveLength(1);
  });

  it("ends a call in flight without retrying it", async () => {
    const controller = new AbortController();
    const fetch = ((_: unknown, init?: RequestInit) =>
      new Promise<Response>((_, reject) => {
        init?.signal?.addEventListener("abort", () => reject(init.signal?.reason));
      })) as typeof globalThis.fetch;
    let calls = 0;
    const counting = ((...args: Parameters<typeof fetch>) => {
      calls++;
      return fetch(...args);
    }) as typeof globalThis.fetch;
    const client = createClient({ baseUrl: "http://concord.test", fetch: counting });
    const pending = client.get("tx-1", { signal: controller.signal });
    controller.abort(new Error("stop"));
    await expect(pending).rejects.toThrow("stop");
    expect(calls).toBe(1);
  });

  it("retries an attempt that gets no answer in time, as a network failure", async () => {
    let calls = 0;
    const fetch = ((_: unknown, init?: RequestInit) => {
      calls++;
      if (calls > 1) return Promise.resolve(json(200, view()));
      return new Promise<Response>((_, reject) => {
        init?.signal?.addEventListener("abort", () => reject(new Error("aborted")));
      });
    }) as typeof globalThis.fetch;
    const client = createClient({
      baseUrl: "http://concord.test",
      fetch,
      attemptTimeoutMs: 20,
      random: () => 0,
    });
    await expect(client.get("tx-1")).resolves.toMatchObject({ id: "tx-1" });
    expect(calls).toBe(2);
  });
});

describe("pages", () => {
  it("follows the cursor with the same filters until there is none", async () => {
    const fake = fakeFetch((call) => {
      const cursor = new URL(call.url).searchParams.get("cursor");
      if (cursor === null) return json(200, { transactions: [view({ id: "a" })], nextCursor: "c1" });
      if (cursor === "c1") return json(200, { transactions: [view({ id: "b" })], nextCursor: "c2" });
      return json(200, { transactions: [view({ id: "c" })] });
    });
    const { client } = clientWith(fake.fetch);
    const ids: string[] = [];
    for await (const page of client.list({ status: "pending", participant: "bank-1", limit: 1 })) {
      ids.push(...page.transactions.map((t) => t.id));
    }
    expect(ids).toEqual(["a", "b", "c"]);
    const queries = fake.calls.map((c) => Object.fromEntries(new URL(c.url).searchParams));
    expect(queries).toEqual([
      { status: "pending", participant: "bank-1", limit: "1" },
      { status: "pending", participant: "bank-1", limit: "1", cursor: "c1" },
      { status: "pending", participant: "bank-1", limit: "1", cursor: "c2" },
    ]);
  });

  it("reads one page of participants from the cursor it is given, and every page by following it", async () => {
    const fake = fakeFetch((call) => {
      const cursor = new URL(call.url).searchParams.get("cursor");
      const participant = {
        name: cursor ?? "first",
        baseUrl: "http://p",
        protocols: ["2pc"],
        createdAt: "",
        version: 1,
      };
      return json(200, { participants: [participant], ...(cursor === null ? { nextCursor: "p2" } : {}) });
    });
    const { client } = clientWith(fake.fetch);
    const one = await client.participantPage({ limit: 10, cursor: "p2" });
    expect(one.participants.map((p) => p.name)).toEqual(["p2"]);
    const names: string[] = [];
    for await (const page of client.participants({ limit: 10 }))
      names.push(...page.participants.map((p) => p.name));
    expect(names).toEqual(["first", "p2"]);
    expect(fake.calls.map((c) => new URL(c.url).search)).toEqual([
      "?limit=10&cursor=p2",
      "?limit=10",
      "?limit=10&cursor=p2",
    ]);
  });

  it("reads no further page than the caller takes", async () => {
    const fake = fakeFetch(json(200, { transactions: [view()], nextCursor: "more" }));
    const { client } = clientWith(fake.fetch);
    for await (const _ of client.list()) break;
    expect(fake.calls).toHaveLength(1);
  });
});

describe("waiting for an outcome", () => {
  const states = [
    view(),
    view(),
    view({ status: "committed", phase: "committing" }),
    view({ status: "committed", phase: "committed", completedAt: "2026-01-01T00:00:01.000Z" }),
  ];

  it("waitFor returns the first decided view; watch yields each change until final", async () => {
    const fake = fakeFetch(...states.map((s) => json(200, s)));
    const { client } = clientWith(fake.fetch);
    expect((await client.waitFor("tx-1")).phase).toBe("committing");

    const again = fakeFetch(...states.map((s) => json(200, s)));
    const { client: watcher } = clientWith(again.fetch);
    const phases: string[] = [];
    for await (const v of watcher.watch("tx-1", { intervalMs: 10 })) phases.push(v.phase);
    // The unchanged second read is not yielded again.
    expect(phases).toEqual(["preparing", "committing", "committed"]);
  });

  it("waitFor raises a timeout with the last view it saw", async () => {
    const fake = fakeFetch(json(200, view()));
    const client = createClient({ baseUrl: "http://concord.test", fetch: fake.fetch });
    const err = await client.waitFor("tx-1", { timeoutMs: 50, intervalMs: 10 }).catch((e: unknown) => e);
    expect(isConcordError(err, "timeout")).toBe(true);
    expect((err as ConcordError).details).toMatchObject({ last: { id: "tx-1", status: "pending" } });
  });

  it("waitFor ends with the caller's signal, not as a timeout", async () => {
    const fake = fakeFetch(json(200, view()));
    const client = createClient({ baseUrl: "http://concord.test", fetch: fake.fetch });
    const signal = AbortSignal.timeout(30);
    const err = await client
      .waitFor("tx-1", { signal, timeoutMs: 10_000, intervalMs: 10 })
      .catch((e: unknown) => e);
    expect(isConcordError(err)).toBe(false);
    expect((err as Error).name).toBe("TimeoutError");
  });
});
