/**
 * The dashboard's browser code: one module for every page of /ui. It reads only
 * the authenticated JSON API and builds the DOM with text nodes, never HTML
 * strings, so whatever a request put in a transaction shows as text.
 * Bundled into ../dashboard-script.ts by `npm run build:ui`.
 */
import { isFinal } from "../../../core/transaction.ts";
import { STATUSES, type TransactionView } from "../../../core/view.ts";
import {
  type BuiltInParticipantsView,
  KEY_STORAGE,
  PAGE_SIZE,
  REFRESH_MS,
  type RegisteredParticipantView,
  type SessionView,
} from "../contract.ts";

type Child = Node | string | undefined | false;

/** An element with attributes and children; strings become text nodes. */
function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | boolean> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false) continue;
    node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children) {
    if (child === undefined || child === false) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

const present = (children: Child[]) =>
  children.filter((c): c is Node | string => c !== undefined && c !== false);
const main = () => document.getElementById("main") as HTMLElement;
const show = (...children: Child[]) => main().replaceChildren(...present(children));
const txPath = (id: string) => `/ui/transactions/${encodeURIComponent(id)}`;
const time = (iso: string | undefined) => (iso ? new Date(iso).toLocaleString() : "");

// ---- the API, with the session's key -------------------------------------------------------

interface Answer<T> {
  readonly status: number;
  readonly body: T;
}

/** Thrown when the API wants a key: the page then asks for one and starts again. */
class KeyNeeded extends Error {
  override readonly name = "KeyNeeded";
}

const storedKey = () => sessionStorage.getItem(KEY_STORAGE) ?? undefined;

async function api<T>(method: "GET" | "POST", path: string): Promise<Answer<T>> {
  const key = storedKey();
  const res = await fetch(path, {
    method,
    headers: { accept: "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) },
    cache: "no-store",
  });
  if (res.status === 401) throw new KeyNeeded(key ? "the API key is not valid" : "an API key is required");
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
function problem(answer: Answer<unknown>): string {
  const error = (answer.body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  if (error && typeof error.message === "string")
    return `${answer.status} ${String(error.code)}: ${error.message}`;
  return `${answer.status}: ${typeof answer.body === "string" ? answer.body.slice(0, 200) : "unexpected answer"}`;
}

// ---- key prompt and session bar -------------------------------------------------------------

function askForKey(why: string, retry: () => void): void {
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

function renderSessionBar(session: SessionView | undefined): void {
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
function live(load: () => Promise<boolean>): void {
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

function stamp(): HTMLElement {
  return el("span", { class: "stamp", id: "updated" }, `updated ${new Date().toLocaleTimeString()}`);
}

// ---- transaction list -----------------------------------------------------------------------

function statusBadge(status: string): HTMLElement {
  const known = (STATUSES as readonly string[]).includes(status);
  return el("span", { class: known ? `badge status-${status}` : "badge" }, status);
}

function listPage(): void {
  const params = new URLSearchParams(location.search);
  const wanted = params.get("status") ?? "";
  let status = (STATUSES as readonly string[]).includes(wanted) ? wanted : "";
  // The cursors of the pages before this one: the API pages forward only.
  let cursors: (string | undefined)[] = [undefined];
  let next: string | undefined;

  const search = el("input", {
    type: "search",
    id: "search-id",
    placeholder: "transaction id",
    "aria-label": "Find a transaction by id",
  });
  const searchMessage = el("span", { class: "message", id: "search-message", role: "status" });
  const find = el("form", { class: "find" }, search, el("button", { type: "submit" }, "Find"), searchMessage);
  find.addEventListener("submit", (event) => {
    event.preventDefault();
    const id = search.value.trim();
    if (!id) return;
    searchMessage.textContent = "";
    api<TransactionView>("GET", `/v1/transactions/${encodeURIComponent(id)}`).then(
      (answer) => {
        if (answer.status === 200) location.assign(txPath(id));
        else searchMessage.textContent = answer.status === 404 ? `no transaction "${id}"` : problem(answer);
      },
      (err) => failed(err),
    );
  });

  const select = el(
    "select",
    { id: "status-filter", "aria-label": "Status" },
    el("option", { value: "" }, "any status"),
    ...STATUSES.map((s) => el("option", { value: s, selected: s === status }, s)),
  );
  select.addEventListener("change", () => {
    status = select.value;
    cursors = [undefined];
    const url = new URL(location.href);
    if (status) url.searchParams.set("status", status);
    else url.searchParams.delete("status");
    history.replaceState(null, "", url);
    void refresh();
  });

  const prev = el("button", { type: "button", id: "prev-page" }, "Previous");
  const nextButton = el("button", { type: "button", id: "next-page" }, "Next");
  prev.addEventListener("click", () => {
    if (cursors.length > 1) cursors = cursors.slice(0, -1);
    void refresh();
  });
  nextButton.addEventListener("click", () => {
    if (next === undefined) return;
    cursors = [...cursors, next];
    void refresh();
  });

  const body = el("tbody", { id: "transactions" });
  const note = el("p", { class: "note", id: "list-note" });
  const updated = el("span", { class: "stamp" });
  show(
    el("div", { class: "toolbar" }, find, el("label", {}, "Status ", select), updated),
    el(
      "table",
      { class: "list" },
      el(
        "thead",
        {},
        el(
          "tr",
          {},
          ...["Id", "Protocol", "Status", "Phase", "Participants", "Created", "Decided"].map((h) =>
            el("th", {}, h),
          ),
        ),
      ),
      body,
    ),
    note,
    el("div", { class: "pager" }, prev, nextButton),
  );

  async function refresh(): Promise<boolean> {
    const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
    if (status) query.set("status", status);
    const cursor = cursors[cursors.length - 1];
    if (cursor !== undefined) query.set("cursor", cursor);
    try {
      // One page per refresh: the page on screen, read again with the cursor that made it.
      const answer = await api<{ transactions: TransactionView[]; nextCursor?: string }>(
        "GET",
        `/v1/transactions?${query}`,
      );
      if (answer.status !== 200) {
        note.textContent = problem(answer);
        return true;
      }
      next = answer.body.nextCursor;
      body.replaceChildren(...answer.body.transactions.map(row));
      note.textContent =
        answer.body.transactions.length === 0 ? "No transactions here." : status ? "Newest first." : "";
      prev.disabled = cursors.length <= 1;
      nextButton.disabled = next === undefined;
      updated.replaceChildren(stamp());
      return true;
    } catch (err) {
      failed(err);
      return false;
    }
  }

  live(refresh);
}

function row(tx: TransactionView): HTMLElement {
  const participants = [...new Set(tx.branches.map((b) => b.participant))].join(", ");
  return el(
    "tr",
    {},
    el("td", { class: "id" }, el("a", { href: txPath(tx.id) }, tx.id)),
    el("td", {}, tx.protocol),
    el("td", {}, statusBadge(tx.status)),
    el("td", {}, tx.phase),
    el("td", {}, participants),
    el("td", {}, time(tx.createdAt)),
    el("td", {}, time(tx.decidedAt)),
  );
}

// ---- one transaction ------------------------------------------------------------------------

function transactionPage(session: SessionView): void {
  const id = decodeURIComponent(location.pathname.slice("/ui/transactions/".length));
  const outcome = el("p", { class: "message", id: "action-result", role: "status" });
  let current: TransactionView | undefined;

  const buttons =
    session.role === "admin"
      ? { abort: button("abort", "Abort"), retry: button("retry", "Retry now") }
      : undefined;

  function button(action: "abort" | "retry", label: string): HTMLButtonElement {
    const b = el("button", { type: "button", id: `${action}-button`, class: action }, label);
    b.addEventListener("click", async () => {
      if (action === "abort" && !window.confirm(`Abort transaction ${id}?`)) return;
      b.disabled = true;
      try {
        const answer = await api<TransactionView>(
          "POST",
          `/v1/transactions/${encodeURIComponent(id)}/${action}`,
        );
        if (answer.status === 200) {
          outcome.textContent = `${action === "abort" ? "Aborted" : "Re-delivered"}: now ${answer.body.status} (${answer.body.phase})`;
          render(answer.body);
        } else {
          outcome.textContent = problem(answer);
          if (current) render(current);
        }
      } catch (err) {
        failed(err);
      }
    });
    return b;
  }

  const view = el("div", { id: "transaction" });
  show(el("p", { class: "back" }, el("a", { href: "/ui" }, "← transactions")), view);

  function render(tx: TransactionView): void {
    current = tx;
    const final = isFinal(tx.phase);
    if (buttons) {
      // Abort while undecided only; retry until every participant has the outcome.
      buttons.abort.disabled = tx.status !== "pending";
      buttons.retry.disabled = final;
    }
    const facts: [string, string | undefined][] = [
      ["Protocol", tx.protocol],
      ["Phase", tx.phase],
      ["Reason", tx.reason],
      ["Created", time(tx.createdAt)],
      ["Deadline", time(tx.deadline)],
      ["Decided", time(tx.decidedAt)],
      ["Completed", time(tx.completedAt)],
      ["Re-sends", String(tx.attempts)],
    ];
    const parts: Child[] = [
      el("h2", {}, el("span", { class: "id", id: "tx-id" }, tx.id), " ", statusBadge(tx.status)),
      el(
        "dl",
        { class: "facts" },
        ...facts.flatMap(([k, v]) => (v ? [el("dt", {}, k), el("dd", {}, v)] : [])),
      ),
      buttons && el("div", { class: "actions" }, buttons.abort, buttons.retry, outcome),
      el("h3", {}, "Branches"),
      el(
        "table",
        { class: "branches" },
        el(
          "thead",
          {},
          el(
            "tr",
            {},
            ...["#", "Participant", "Action", "Stage", "State", "Vote", "Reason", "Re-sends"].map((h) =>
              el("th", {}, h),
            ),
          ),
        ),
        el(
          "tbody",
          { id: "branches" },
          ...tx.branches.map((b, i) =>
            el(
              "tr",
              {},
              el("td", {}, String(i)),
              el("td", {}, b.participant),
              el("td", {}, b.action),
              el("td", {}, b.stage === undefined ? "" : `${b.stage}${b.atomic ? " (atomic)" : ""}`),
              el("td", {}, el("span", { class: "state" }, b.state)),
              el("td", {}, b.vote ?? ""),
              el("td", { class: "reason" }, b.reason ?? ""),
              el("td", {}, b.attempts === undefined ? "" : String(b.attempts)),
            ),
          ),
        ),
      ),
      el("h3", {}, "Events"),
      tx.eventsDropped
        ? el("p", { class: "note" }, `${tx.eventsDropped} earlier events were left out to bound the record.`)
        : undefined,
      el("ol", { class: "timeline", id: "events" }, ...tx.events.map(eventItem)),
    ];
    view.replaceChildren(...present(parts));
    if (!buttons) view.append(el("p", { class: "note" }, "Abort and retry need an admin key."));
    view.append(el("p", {}, final ? el("span", { class: "stamp" }, "final") : stamp()));
  }

  live(async () => {
    try {
      const answer = await api<TransactionView>("GET", `/v1/transactions/${encodeURIComponent(id)}`);
      if (answer.status === 404) {
        view.replaceChildren(el("p", { class: "message" }, `No transaction "${id}".`));
        return false;
      }
      if (answer.status !== 200) {
        outcome.textContent = problem(answer);
        return true;
      }
      render(answer.body);
      // A final transaction changes no more: stop asking.
      return !isFinal(answer.body.phase);
    } catch (err) {
      failed(err);
      return false;
    }
  });
}

function eventItem(event: TransactionView["events"][number]): HTMLElement {
  const { at, type, ...rest } = event;
  const details = Object.entries(rest)
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join("  ");
  return el(
    "li",
    {},
    el("time", { datetime: at }, time(at)),
    el("span", { class: "event-type" }, type),
    el("span", { class: "event-details" }, details),
  );
}

// ---- participants ---------------------------------------------------------------------------

function participantsPage(session: SessionView): void {
  const builtIn = el("tbody", { id: "built-in" });
  const registered = el("tbody", { id: "registered" });
  const registeredNote = el("p", { class: "note", id: "registered-note" });
  const more = el("button", { type: "button", id: "more-participants", hidden: true }, "More");
  show(
    el("h2", {}, "Built-in participants"),
    el(
      "table",
      {},
      el("thead", {}, el("tr", {}, el("th", {}, "Name"), el("th", {}, "Kind"), el("th", {}, "Actions"))),
      builtIn,
    ),
    el("h2", {}, "Registered HTTP participants"),
    el(
      "table",
      {},
      el(
        "thead",
        {},
        el("tr", {}, ...["Name", "Base URL", "Protocols", "Registered"].map((h) => el("th", {}, h))),
      ),
      registered,
    ),
    registeredNote,
    more,
  );

  api<BuiltInParticipantsView>("GET", "/ui/api/participants").then(
    (answer) => {
      if (answer.status !== 200) {
        builtIn.replaceChildren(el("tr", {}, el("td", { colspan: "3" }, problem(answer))));
        return;
      }
      builtIn.replaceChildren(
        ...answer.body.participants.map((p) =>
          el("tr", {}, el("td", {}, p.name), el("td", {}, p.kind), el("td", {}, p.actions.join(", "))),
        ),
      );
    },
    (err) => failed(err),
  );

  if (session.role !== "admin") {
    registeredNote.textContent = "Listing registered participants needs an admin key.";
    return;
  }
  let cursor: string | undefined;
  const load = async () => {
    const query = new URLSearchParams({ limit: "100" });
    if (cursor !== undefined) query.set("cursor", cursor);
    try {
      const answer = await api<{ participants: RegisteredParticipantView[]; nextCursor?: string }>(
        "GET",
        `/v1/participants?${query}`,
      );
      if (answer.status !== 200) {
        registeredNote.textContent = problem(answer);
        return;
      }
      registered.append(
        ...answer.body.participants.map((p) =>
          el(
            "tr",
            {},
            el("td", {}, p.name),
            el("td", { class: "url" }, p.baseUrl),
            el("td", {}, p.protocols.join(", ")),
            el("td", {}, time(p.createdAt)),
          ),
        ),
      );
      cursor = answer.body.nextCursor;
      more.hidden = cursor === undefined;
      if (registered.childElementCount === 0) registeredNote.textContent = "None registered.";
    } catch (err) {
      failed(err);
    }
  };
  more.addEventListener("click", () => void load());
  void load();
}

// ---- start ----------------------------------------------------------------------------------

/** A key is asked for (and the page starts again with it), or the failure is shown. */
function failed(err: unknown): void {
  if (err instanceof KeyNeeded) askForKey(err.message, () => void start());
  else show(el("p", { class: "message" }, `The API could not be reached: ${String(err)}`));
}

async function start(): Promise<void> {
  try {
    const answer = await api<SessionView>("GET", "/ui/api/session");
    if (answer.status !== 200) {
      show(el("p", { class: "message" }, problem(answer)));
      return;
    }
    const session = answer.body;
    renderSessionBar(session);
    const page = document.body.dataset.page;
    if (page === "transaction") transactionPage(session);
    else if (page === "participants") participantsPage(session);
    else listPage();
  } catch (err) {
    failed(err);
  }
}

void start();
