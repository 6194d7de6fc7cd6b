/**
 * The API with the session's key: the typed client for the v1 API, small
 * requests for the dashboard's own routes and the metrics, the key prompt and
 * session bar, live refresh, and what a page does when a request fails.
 */
import { type ConcordClient, ConcordError, createClient } from "../../../../packages/client/src/index.ts";
import { KEY_STORAGE, REFRESH_MS, type SessionView } from "../contract.ts";
import { type Child, el, present, show } from "./dom.ts";

export interface Answer<T> {
  readonly status: number;
  readonly body: T;
}

/** Thrown when the API wants a key: the page then asks for one and starts again. */
export class KeyNeeded extends Error {
  override readonly name = "KeyNeeded";
}

const storedKey = () => sessionStorage.getItem(KEY_STORAGE) ?? undefined;
const keyNeeded = () => new KeyNeeded(storedKey() ? "the API key is not valid" : "an API key is required");

/** Every read is fresh: a live page must never be shown a cached answer. */
const noStore: typeof fetch = (input, init) => fetch(input, { ...init, cache: "no-store" });

/**
 * The v1 API's client with the key this tab holds now (it changes when the
 * prompt takes a new one). No retries of its own: a live page reads again on
 * its next tick, and an operator's click shows its failure rather than waiting.
 */
export const concord = (): ConcordClient =>
  createClient({ baseUrl: location.origin, apiKey: storedKey(), retry: false, fetch: noStore });

/** A dashboard route (`/ui/api/...`) or `/metrics`, which are not the v1 API the client serves. */
export async function api<T>(method: "GET" | "POST", path: string): Promise<Answer<T>> {
  const key = storedKey();
  const res = await noStore(path, {
    method,
    headers: { accept: "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) },
  });
  if (res.status === 401) throw keyNeeded();
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // Not JSON (a proxy's error page): shown as its text.
  }
  return { status: res.status, body: body as T };
}

/** The API's error shape, said in one line. */
export function problem(answer: Answer<unknown>): string {
  const error = (answer.body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  if (error && typeof error.message === "string")
    return `${answer.status} ${String(error.code)}: ${error.message}`;
  return `${answer.status}: ${typeof answer.body === "string" ? answer.body.slice(0, 200) : "unexpected answer"}`;
}

/**
 * A client call's failure: the API's refusal (a 4xx or 5xx answer) is said
 * with `say` and the page goes on (true); a missing key or an API out of
 * reach goes to `failed` and the page stops (false).
 */
export function refused(err: unknown, say: (text: string) => void): boolean {
  if (err instanceof ConcordError && err.status !== 0 && err.code !== "unauthorized") {
    say(`${err.status} ${err.code}: ${err.message}`);
    return true;
  }
  failed(err);
  return false;
}

// ---- key prompt and session bar -------------------------------------------------------------

export function askForKey(why: string, retry: () => void): void {
  sessionStorage.removeItem(KEY_STORAGE);
  const input = el("input", {
    type: "password",
    id: "api-key",
    name: "api-key",
    autocomplete: "off",
    required: true,
    "aria-label": "API key",
  });
  const form = el(
    "form",
    { class: "key-form" },
    el("h2", {}, "API key"),
    el("p", {}, `${why}. The key is kept for this browser tab only and sent as a Bearer token.`),
    input,
    el("button", { type: "submit" }, "Use key"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const key = input.value.trim();
    if (!key) return;
    sessionStorage.setItem(KEY_STORAGE, key);
    retry();
  });
  renderSessionBar(undefined);
  show(form);
  input.focus();
}

export function renderSessionBar(session: SessionView | undefined): void {
  const bar = document.getElementById("session");
  if (!bar) return;
  const children: Child[] = [];
  if (session) {
    children.push(
      el("span", { class: `role role-${session.role}` }, session.auth ? session.role : "auth off"),
    );
  }
  if (storedKey()) {
    const forget = el("button", { type: "button", class: "link" }, "Forget key");
    forget.addEventListener("click", () => {
      sessionStorage.removeItem(KEY_STORAGE);
      location.reload();
    });
    children.push(forget);
  }
  bar.replaceChildren(...present(children));
}

// ---- live refresh ---------------------------------------------------------------------------

/**
 * Runs `load` now and every REFRESH_MS while the tab is visible (a hidden tab
 * asks nothing), never two at once. `load` answers false to stop.
 */
export function live(load: () => Promise<boolean>): void {
  let timer: number | undefined;
  let running = false;
  let stopped = false;
  const tick = async () => {
    if (running || stopped || document.hidden) return;
    running = true;
    try {
      if (!(await load())) stop();
    } finally {
      running = false;
    }
  };
  const stop = () => {
    stopped = true;
    window.clearInterval(timer);
    document.removeEventListener("visibilitychange", onVisible);
  };
  const onVisible = () => {
    if (!document.hidden) void tick();
  };
  document.addEventListener("visibilitychange", onVisible);
  timer = window.setInterval(() => void tick(), REFRESH_MS);
  void tick();
}

/** Starts the page again once a key is given: the entry's start, set when it loads. */
let restart: () => void = () => {};
export function onRestart(start: () => void): void {
  restart = start;
}

/** A key is asked for (and the page starts again with it), or the failure is shown. */
export function failed(err: unknown): void {
  if (err instanceof ConcordError && err.code === "unauthorized") askForKey(keyNeeded().message, restart);
  else if (err instanceof KeyNeeded) askForKey(err.message, restart);
  else show(el("p", { class: "message" }, `The API could not be reached: ${String(err)}`));
}
