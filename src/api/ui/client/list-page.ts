/** The transaction list: filters by status, pages of PAGE_SIZE, refreshed live. */
import { STATUSES, type TransactionView } from "../../../core/view.ts";
import { PAGE_SIZE } from "../contract.ts";
import { el, show, stamp, statusBadge, time, txPath } from "./dom.ts";
import { api, failed, live, problem } from "./session.ts";

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
