/** One transaction: its record, branches and events, refreshed until it is final. */
import { FINAL_PHASES, isConcordError, type TransactionView } from "../../../../packages/client/src/index.ts";
import type { SessionView } from "../contract.ts";
import { type Child, el, present, show, stamp, statusBadge, time } from "./dom.ts";
import { concord, live, refused } from "./session.ts";

const isFinal = (tx: TransactionView) => FINAL_PHASES.includes(tx.phase);

export function transactionPage(session: SessionView): void {
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
        const tx = await (action === "abort" ? concord().abort(id) : concord().retry(id));
        outcome.textContent = `${action === "abort" ? "Aborted" : "Re-delivered"}: now ${tx.status} (${tx.phase})`;
        render(tx);
      } catch (err) {
        if (refused(err, (text) => (outcome.textContent = text)) && current) render(current);
      }
    });
    return b;
  }

  const view = el("div", { id: "transaction" });
  show(el("p", { class: "back" }, el("a", { href: "/ui" }, "← transactions")), view);

  function render(tx: TransactionView): void {
    current = tx;
    const final = isFinal(tx);
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
      const tx = await concord().get(id);
      render(tx);
      // A final transaction changes no more: stop asking.
      return !isFinal(tx);
    } catch (err) {
      if (isConcordError(err, "not_found")) {
        view.replaceChildren(el("p", { class: "message" }, `No transaction "${id}".`));
        return false;
      }
      return refused(err, (text) => (outcome.textContent = text));
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
