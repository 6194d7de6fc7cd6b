/**
 * The transaction list: filters by status, protocol, participant and time
 * (created since/until), pages of PAGE_SIZE, refreshed live. The filters
 * other than status are sent as `GET /v1/transactions` takes them; an API that
 * does not serve one either refuses it (its 400 is shown) or ignores it, which
 * the page sees in a row that does not match and says so instead of passing
 * off an unfiltered list as filtered.
 */
import {
  isConcordError,
  type ListQuery,
  type TransactionView,
} from "../../../../packages/client/src/index.ts";
import { PROTOCOLS } from "../../../core/transaction.ts";
import { STATUSES } from "../../../core/view.ts";
import { PAGE_SIZE } from "../contract.ts";
import { el, show, stamp, statusBadge, time, txPath } from "./dom.ts";
import { concord, live, refused } from "./session.ts";

export function listPage(): void {
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
    concord()
      .get(id)
      .then(
        () => location.assign(txPath(id)),
        (err) => {
          if (isConcordError(err, "not_found")) searchMessage.textContent = `no transaction "${id}"`;
          else refused(err, (text) => (searchMessage.textContent = text));
        },
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

  // protocol, participant, since, until: kept in the page's URL like status.
  const filters = {
    protocol: el(
      "select",
      { id: "protocol-filter", "aria-label": "Protocol" },
      el("option", { value: "" }, "any protocol"),
      ...PROTOCOLS.map((p) => el("option", { value: p, selected: params.get("protocol") === p }, p)),
    ),
    participant: el("input", {
      type: "text",
      id: "participant-filter",
      placeholder: "any participant",
      "aria-label": "Participant",
      value: params.get("participant") ?? "",
    }),
    since: el("input", {
      type: "datetime-local",
      id: "since-filter",
      "aria-label": "Created since",
      value: localInput(params.get("since")),
    }),
    until: el("input", {
      type: "datetime-local",
      id: "until-filter",
      "aria-label": "Created until",
      value: localInput(params.get("until")),
    }),
  };
  /** The filters as the API takes them: times as ISO 8601. */
  const filterQuery = (): Filters => {
    const q: Filters = {};
    if (filters.protocol.value) q.protocol = filters.protocol.value as Filters["protocol"];
    const participant = filters.participant.value.trim();
    if (participant) q.participant = participant;
    for (const name of ["since", "until"] as const) {
      const at = filters[name].value ? new Date(filters[name].value) : undefined;
      if (at && !Number.isNaN(at.getTime())) q[name] = at.toISOString();
    }
    return q;
  };
  for (const input of Object.values(filters)) {
    input.addEventListener("change", () => {
      cursors = [undefined];
      const url = new URL(location.href);
      for (const name of Object.keys(filters)) url.searchParams.delete(name);
      for (const [name, value] of Object.entries(filterQuery())) if (value) url.searchParams.set(name, value);
      history.replaceState(null, "", url);
      void refresh();
    });
  }

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
      "div",
      { class: "toolbar filters" },
      el("label", {}, "Protocol ", filters.protocol),
      el("label", {}, "Participant ", filters.participant),
      el("label", {}, "Since ", filters.since),
      el("label", {}, "Until ", filters.until),
    ),
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
    const wanted = filterQuery();
    const cursor = cursors[cursors.length - 1];
    const query: ListQuery = {
      limit: PAGE_SIZE,
      ...(status ? { status: status as ListQuery["status"] } : {}),
      ...wanted,
      ...(cursor !== undefined ? { cursor } : {}),
    };
    try {
      // One page per refresh: the page on screen, read again with the cursor that made it.
      const page = await concord().page(query);
      next = page.nextCursor;
      body.replaceChildren(...page.transactions.map(row));
      const ignored = ignoredFilters(wanted, page.transactions);
      note.textContent =
        ignored.length > 0
          ? `This API does not filter by ${ignored.join(", ")}: the list is not filtered by ${ignored.length > 1 ? "them" : "it"}.`
          : page.transactions.length === 0
            ? "No transactions here."
            : status
              ? "Newest first."
              : "";
      prev.disabled = cursors.length <= 1;
      nextButton.disabled = next === undefined;
      updated.replaceChildren(stamp());
      return true;
    } catch (err) {
      return refused(err, (text) => (note.textContent = text));
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

/** The filters other than status, as the list query takes them. */
type Filters = { -readonly [K in "protocol" | "participant" | "since" | "until"]?: ListQuery[K] };

/** The filters a page of the API's answer shows it did not apply: a row that does not match. */
function ignoredFilters(wanted: Filters, page: readonly TransactionView[]): string[] {
  const matches: Record<string, (tx: TransactionView, value: string) => boolean> = {
    protocol: (tx, v) => tx.protocol === v,
    participant: (tx, v) => tx.branches.some((b) => b.participant === v),
    since: (tx, v) => Date.parse(tx.createdAt) >= Date.parse(v),
    until: (tx, v) => Date.parse(tx.createdAt) <= Date.parse(v),
  };
  return Object.entries(wanted)
    .filter(([name, value]) => page.some((tx) => !matches[name]?.(tx, value ?? "")))
    .map(([name]) => name);
}

/** An ISO time from the URL as a datetime-local input's value (local time, to the minute). */
function localInput(iso: string | null): string {
  const at = iso ? new Date(iso) : undefined;
  if (!at || Number.isNaN(at.getTime())) return "";
  const local = new Date(at.getTime() - at.getTimezoneOffset() * 60_000);
  return local.toISOString().slice(0, 16);
}
