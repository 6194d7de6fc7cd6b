import { ConcordError, errorFromResponse } from "./errors.ts";
import { pauseMs, type RetryOptions, retryAfterMs, retryableStatus, retryPolicy } from "./retry.ts";
import { pathOf, ROUTES, type RouteName } from "./routes.ts";
import {
  type AccountView,
  type BeginRequest,
  FINAL_PHASES,
  type ListQuery,
  type ParticipantPage,
  type ParticipantQuery,
  type ParticipantRegistration,
  type ParticipantView,
  type TransactionPage,
  type TransactionView,
  type TransferOperation,
} from "./types.ts";

export interface ConcordClientOptions {
  /** The API's base URL, e.g. `http://127.0.0.1:3000`. */
  readonly baseUrl: string;
  /** Sent as `Authorization: Bearer <key>`; admin actions need an admin key. */
  readonly apiKey?: string | undefined;
  /** Retries of 5xx, 429 and network failures; `false` for none. */
  readonly retry?: RetryOptions | false | undefined;
  /** One attempt's time limit, on top of any `wait` (default 15 s); an attempt that runs out is retried. */
  readonly attemptTimeoutMs?: number | undefined;
  /** Sent with every request. */
  readonly headers?: Readonly<Record<string, string>> | undefined;
  /** The fetch to use (default: the global one). */
  readonly fetch?: typeof fetch | undefined;
  /** Idempotency keys for begins that name none (default: a random UUID). */
  readonly newKey?: (() => string) | undefined;
  /** For tests: the clock, the jitter's randomness and the pause between attempts. */
  readonly now?: (() => number) | undefined;
  readonly random?: (() => number) | undefined;
  readonly sleep?: ((ms: number, signal?: AbortSignal) => Promise<void>) | undefined;
}

export interface CallOptions {
  /** Cancels the call, its retries and pauses included; the call rejects with the signal's reason. */
  readonly signal?: AbortSignal | undefined;
}

export interface BeginOptions extends CallOptions {
  /**
   * The key that makes a repeat of this begin return the same transaction
   * (it becomes the transaction's id). Default: the request's `id`, else a new
   * random one. Reuse it when you repeat a begin whose answer you did not get.
   */
  readonly idempotencyKey?: string | undefined;
  /** Wait up to this many ms (at most 30000) for the outcome before answering. */
  readonly wait?: number | undefined;
}

export interface WatchOptions extends CallOptions {
  /** Between two reads (default 500 ms). */
  readonly intervalMs?: number | undefined;
  /**
   * `decided`: until the status is no longer `pending`; `final`: until every
   * participant applied the outcome (the phase is committed, aborted or compensated).
   */
  readonly until?: "decided" | "final" | undefined;
}

export interface WaitOptions extends WatchOptions {
  /** Give up after this long with a `timeout` ConcordError (default: no limit but the signal). */
  readonly timeoutMs?: number | undefined;
}

interface Send {
  readonly params?: Record<string, string>;
  readonly query?: URLSearchParams;
  readonly body?: unknown;
  readonly headers?: Record<string, string>;
  readonly signal?: AbortSignal | undefined;
  /** Extra time the server may take to answer (`?wait=`). */
  readonly waitMs?: number;
}

const defaultSleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });

const isFinal = (view: TransactionView) => FINAL_PHASES.includes(view.phase);
const isDecided = (view: TransactionView) => view.status !== "pending";

/**
 * A client of concord's v1 HTTP API. Every call may be repeated safely, and the
 * client repeats it itself on 5xx, 429 and network failures: begins and
 * transfers carry an Idempotency-Key, the same on every attempt, so no retry
 * (the client's or the caller's with the same key) ever starts a second
 * transaction. Failures are ConcordErrors typed by the API's `error.code`.
 */
export class ConcordClient {
  readonly #options: ConcordClientOptions;
  readonly #base: string;
  readonly #policy;
  readonly #fetch: typeof fetch;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly #newKey: () => string;

  constructor(options: ConcordClientOptions) {
    this.#options = options;
    this.#base = options.baseUrl.replace(/\/+$/, "");
    this.#policy = retryPolicy(options.retry);
    // Called unbound: a browser's fetch throws when called as another object's method.
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
    this.#sleep = options.sleep ?? defaultSleep;
    this.#newKey = options.newKey ?? (() => globalThis.crypto.randomUUID());
  }

  /** Starts a 2PC transaction or a saga. 201 and 202 alike give the view; `status` says which. */
  begin(request: BeginRequest, options: BeginOptions = {}): Promise<TransactionView> {
    const key = options.idempotencyKey ?? request.id ?? this.#newKey();
    return this.#send<TransactionView>("begin", {
      body: request,
      headers: { "idempotency-key": key },
      ...this.#waitQuery(options),
    });
  }

  /** Runs the bank shape as one 2PC transaction over the bank participants. */
  transfer(operations: readonly TransferOperation[], options: BeginOptions = {}): Promise<TransactionView> {
    const key = options.idempotencyKey ?? this.#newKey();
    return this.#send<TransactionView>("transfer", {
      body: operations,
      headers: { "idempotency-key": key },
      ...this.#waitQuery(options),
    });
  }

  get(id: string, options: CallOptions = {}): Promise<TransactionView> {
    return this.#send("get", { params: { id }, signal: options.signal });
  }

  /** One page of transactions, in the server's order (newest first with a status). */
  page(query: ListQuery = {}, options: CallOptions = {}): Promise<TransactionPage> {
    return this.#send("list", { query: toSearch({ ...query }), signal: options.signal });
  }

  /** Every page of transactions matching `query`, following the cursor; stop iterating to stop reading. */
  async *list(query: ListQuery = {}, options: CallOptions = {}): AsyncGenerator<TransactionPage> {
    let cursor = query.cursor;
    do {
      const page = await this.page({ ...query, ...(cursor !== undefined ? { cursor } : {}) }, options);
      yield page;
      cursor = page.nextCursor;
    } while (cursor !== undefined);
  }

  /**
   * The transaction's view now, then each time it changes, until it is
   * decided or final (`until`, default `final`): the last view yielded is that one.
   */
  async *watch(id: string, options: WatchOptions = {}): AsyncGenerator<TransactionView> {
    const done = (options.until ?? "final") === "final" ? isFinal : isDecided;
    const interval = options.intervalMs ?? 500;
    let last: string | undefined;
    for (;;) {
      const view = await this.get(id, options);
      const seen = JSON.stringify(view);
      if (seen !== last) {
        last = seen;
        yield view;
      }
      if (done(view)) return;
      await this.#sleep(interval, options.signal);
    }
  }

  /** Waits until the transaction is decided (or final, with `until: "final"`) and returns its view. */
  async waitFor(id: string, options: WaitOptions = {}): Promise<TransactionView> {
    const timeout = new AbortController();
    const timer =
      options.timeoutMs !== undefined ? setTimeout(() => timeout.abort(), options.timeoutMs) : undefined;
    const signal = options.signal ? AbortSignal.any([options.signal, timeout.signal]) : timeout.signal;
    let last: TransactionView | undefined;
    try {
      for await (const view of this.watch(id, { ...options, until: options.until ?? "decided", signal })) {
        last = view;
      }
      if (!last) throw new Error("unreachable: watch yields at least one view");
      return last;
    } catch (err) {
      if (timeout.signal.aborted && !options.signal?.aborted) {
        throw new ConcordError(
          {
            code: "timeout",
            status: 0,
            message: `transaction ${id} was not ${options.until ?? "decided"} within ${options.timeoutMs} ms`,
            ...(last ? { details: { last } } : {}),
          },
          { cause: err },
        );
      }
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Aborts an undecided transaction (admin); a decided one is a `conflict`. */
  abort(id: string, options: CallOptions = {}): Promise<TransactionView> {
    return this.#send("abort", { params: { id }, signal: options.signal });
  }

  /** Re-delivers now what an unfinished transaction waits for (admin); a finished one is a `conflict`. */
  retry(id: string, options: CallOptions = {}): Promise<TransactionView> {
    return this.#send("retry", { params: { id }, signal: options.signal });
  }

  /** Registers an HTTP participant (admin). The same registration again is answered as the first. */
  registerParticipant(registration: ParticipantRegistration, options: CallOptions = {}) {
    return this.#send<ParticipantView>("registerParticipant", { body: registration, signal: options.signal });
  }

  getParticipant(name: string, options: CallOptions = {}): Promise<ParticipantView> {
    return this.#send("getParticipant", { params: { name }, signal: options.signal });
  }

  /** One page of registered HTTP participants (admin), from `cursor` when given. */
  participantPage(query: ParticipantQuery = {}, options: CallOptions = {}): Promise<ParticipantPage> {
    return this.#send("listParticipants", { query: toSearch({ ...query }), signal: options.signal });
  }

  /** Every page of registered HTTP participants (admin). */
  async *participants(
    query: { readonly limit?: number } = {},
    options: CallOptions = {},
  ): AsyncGenerator<ParticipantPage> {
    let cursor: string | undefined;
    do {
      const page = await this.participantPage(
        { ...query, ...(cursor !== undefined ? { cursor } : {}) },
        options,
      );
      yield page;
      cursor = page.nextCursor;
    } while (cursor !== undefined);
  }

  /** Creates or resets a bank account (admin; for tests and demos). */
  putAccount(server: string, account: string, balance: number, options: CallOptions = {}) {
    return this.#send<AccountView>("putAccount", {
      params: { server, id: account },
      body: { balance },
      signal: options.signal,
    });
  }

  getAccount(server: string, account: string, options: CallOptions = {}): Promise<AccountView> {
    return this.#send("getAccount", { params: { server, id: account }, signal: options.signal });
  }

  /**
   * A built-in participant's resource by its kind's path and id, e.g.
   * `getResource("inventory", "sku-1")`, `getResource("payment/customers", "c1")`,
   * `getResource("bank/bank-1/accounts", "alice")`: its state, version, holds and lock.
   */
  getResource<T = Record<string, unknown>>(kind: string, id: string, options: CallOptions = {}): Promise<T> {
    return this.#send("getResource", { params: { kind, id }, signal: options.signal });
  }

  /** Creates or resets a resource of a kind that can be seeded (admin): `putResource("inventory", "sku-1", {stock: 5})`. */
  putResource<T = Record<string, unknown>>(
    kind: string,
    id: string,
    state: Record<string, unknown>,
    options: CallOptions = {},
  ): Promise<T> {
    return this.#send("putResource", { params: { kind, id }, body: state, signal: options.signal });
  }

  /** Liveness: `{"status":"ok"}`. */
  health(options: CallOptions = {}): Promise<{ status: string }> {
    return this.#send("health", { signal: options.signal });
  }

  #waitQuery(options: BeginOptions): Pick<Send, "query" | "waitMs" | "signal"> {
    if (options.wait === undefined) return { signal: options.signal };
    return {
      query: new URLSearchParams({ wait: String(options.wait) }),
      waitMs: options.wait,
      signal: options.signal,
    };
  }

  async #send<T>(route: RouteName, send: Send): Promise<T> {
    const { method } = ROUTES[route];
    const search = send.query?.toString();
    const url = `${this.#base}${pathOf(route, send.params)}${search ? `?${search}` : ""}`;
    const headers: Record<string, string> = {
      accept: "application/json",
      ...this.#options.headers,
      ...(this.#options.apiKey ? { authorization: `Bearer ${this.#options.apiKey}` } : {}),
      ...(send.body !== undefined ? { "content-type": "application/json" } : {}),
      ...send.headers,
    };
    const body = send.body !== undefined ? JSON.stringify(send.body) : undefined;
    const limit = (this.#options.attemptTimeoutMs ?? 15_000) + (send.waitMs ?? 0);
    const started = this.#now();
    for (let attempt = 1; ; attempt++) {
      send.signal?.throwIfAborted();
      const outcome = await this.#attempt<T>(url, { method, headers, body }, limit, send.signal);
      if (outcome.ok) return outcome.value;
      const { error, retryable, retryAfter } = outcome;
      if (!retryable) throw error;
      const pause = pauseMs(this.#policy, attempt, this.#random(), retryAfter);
      const late = this.#now() - started + pause > this.#policy.maxElapsedMs;
      if (attempt >= this.#policy.maxAttempts || late) throw error;
      await this.#sleep(pause, send.signal);
    }
  }

  /** One send: the value, or the error with whether sending again may help. */
  async #attempt<T>(
    url: string,
    init: { method: string; headers: Record<string, string>; body: string | undefined },
    limitMs: number,
    signal: AbortSignal | undefined,
  ): Promise<
    | { ok: true; value: T }
    | { ok: false; error: ConcordError; retryable: boolean; retryAfter?: number | undefined }
  > {
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(), limitMs);
    const combined = signal ? AbortSignal.any([signal, timeout.signal]) : timeout.signal;
    try {
      const res = await this.#fetch(url, {
        method: init.method,
        headers: init.headers,
        ...(init.body !== undefined ? { body: init.body } : {}),
        signal: combined,
      });
      if (!res.ok) {
        const retryAfter = retryAfterMs(res.headers.get("retry-after"), this.#now());
        return {
          ok: false,
          error: await errorFromResponse(res),
          retryable: retryableStatus(res.status),
          retryAfter,
        };
      }
      const text = await res.text();
      try {
        return { ok: true, value: JSON.parse(text) as T };
      } catch (cause) {
        const error = new ConcordError(
          { code: "invalid_response", status: res.status, message: `not JSON: ${text.slice(0, 200)}` },
          { cause },
        );
        return { ok: false, error, retryable: false };
      }
    } catch (cause) {
      // The caller's abort ends everything; a network failure or an attempt's timeout is retried.
      if (signal?.aborted) throw signal.reason;
      // fetch's "fetch failed" says little; its cause says why (ECONNREFUSED, ENOTFOUND, ...).
      const detail = (cause as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause;
      const inner = detail?.code ?? detail?.message;
      const why = timeout.signal.aborted
        ? `no answer within ${limitMs} ms`
        : `${String(cause)}${typeof inner === "string" ? ` (${inner})` : ""}`;
      const error = new ConcordError(
        { code: "unreachable", status: 0, message: `${init.method} ${url}: ${why}` },
        { cause },
      );
      return { ok: false, error, retryable: true };
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Query parameters from the defined values only. */
function toSearch(query: Readonly<Record<string, string | number | undefined>>): URLSearchParams {
  const search = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined) search.set(k, String(v));
  return search;
}

export const createClient = (options: ConcordClientOptions): ConcordClient => new ConcordClient(options);
