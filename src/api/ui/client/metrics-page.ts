/**
 * The metrics at a glance, read from `GET /metrics` (admin) every few seconds:
 * transactions begun, decided and completed by protocol and outcome, the
 * reasons of aborts, time to decision and completion as percentile bounds,
 * in flight, in doubt, dead letters, and the signs of trouble (re-sends,
 * stalls, deadlocks, lock waits). Counters are this process's since it started;
 * gauges are read from the tables and queues on each scrape.
 */
import type { SessionView } from "../contract.ts";
import { el, show, stamp } from "./dom.ts";
import { byLabel, parsePrometheus, quantileBound, type Sample, total } from "./prometheus-text.ts";
import { api, failed, live, problem } from "./session.ts";

const PROTOCOLS = ["2pc", "saga"] as const;
const QUANTILES = [
  ["p50", 0.5],
  ["p90", 0.9],
  ["p99", 0.99],
] as const;

const seconds = (bound: number | undefined) =>
  bound === undefined ? "–" : bound === Number.POSITIVE_INFINITY ? "> 600 s" : `≤ ${bound} s`;
const count = (n: number) => n.toLocaleString();

export function metricsPage(session: SessionView): void {
  if (session.role !== "admin") {
    show(
      el("h2", {}, "Metrics"),
      el("p", { class: "note", id: "metrics-note" }, "Metrics need an admin key."),
    );
    return;
  }
  const note = el("p", { class: "note", id: "metrics-note" });
  const updated = el("span", { class: "stamp" });
  const body = el("div", { id: "metrics" });
  show(el("div", { class: "toolbar" }, el("h2", {}, "Metrics"), updated), note, body);

  live(async () => {
    try {
      const answer = await api<string>("GET", "/metrics");
      if (answer.status === 404) {
        note.textContent = `${problem(answer)}. See the CloudWatch namespace Concord and its alarms.`;
        return false;
      }
      if (answer.status !== 200 || typeof answer.body !== "string") {
        note.textContent = problem(answer);
        return true;
      }
      note.textContent = "Counters since this process started; gauges as of this read.";
      body.replaceChildren(...render(parsePrometheus(answer.body)));
      updated.replaceChildren(stamp());
      return true;
    } catch (err) {
      failed(err);
      return false;
    }
  });
}

function render(s: readonly Sample[]): HTMLElement[] {
  const gauge = (label: string, id: string, value: number, detail?: HTMLElement) =>
    el(
      "div",
      { class: value > 0 && id !== "in-flight" ? "tile attention" : "tile", id },
      el("span", { class: "tile-value" }, count(value)),
      el("span", { class: "tile-label" }, label),
      detail,
    );
  const perLabel = (name: string, label: string) => {
    const rows = byLabel(s, name, label).filter(([, n]) => n > 0);
    return rows.length > 0
      ? el("ul", { class: "tile-detail" }, ...rows.map(([k, n]) => el("li", {}, `${k}: ${count(n)}`)))
      : undefined;
  };

  const outcomes = el(
    "table",
    { id: "transactions-by-protocol" },
    el(
      "thead",
      {},
      el(
        "tr",
        {},
        ...[
          "Protocol",
          "Begun",
          "Committed (decided)",
          "Aborted (decided)",
          "Completed: committed",
          "aborted",
          "compensated",
        ].map((h) => el("th", {}, h)),
      ),
    ),
    el(
      "tbody",
      {},
      ...PROTOCOLS.map((protocol) =>
        el(
          "tr",
          {},
          el("td", {}, protocol),
          ...[
            total(s, "concord_transactions_begun_total", { protocol }),
            total(s, "concord_transactions_decided_total", { protocol, outcome: "commit" }),
            total(s, "concord_transactions_decided_total", { protocol, outcome: "abort" }),
            ...["committed", "aborted", "compensated"].map((outcome) =>
              total(s, "concord_transactions_completed_total", { protocol, outcome }),
            ),
          ].map((n) => el("td", { class: "num" }, count(n))),
        ),
      ),
    ),
  );

  const times = el(
    "table",
    { id: "latency" },
    el(
      "thead",
      {},
      el(
        "tr",
        {},
        el("th", {}, "Protocol"),
        el("th", {}, "Time to"),
        ...QUANTILES.map(([q]) => el("th", {}, q)),
      ),
    ),
    el(
      "tbody",
      {},
      ...PROTOCOLS.flatMap((protocol) =>
        (
          [
            ["decision", "concord_time_to_decision_seconds"],
            ["completion", "concord_time_to_completion_seconds"],
          ] as const
        ).map(([what, histogram]) =>
          el(
            "tr",
            {},
            el("td", {}, protocol),
            el("td", {}, what),
            ...QUANTILES.map(([, q]) =>
              el("td", { class: "num" }, seconds(quantileBound(s, histogram, q, { protocol }))),
            ),
          ),
        ),
      ),
    ),
  );

  const reasons = byLabel(s, "concord_transactions_decided_total", "reason", { outcome: "abort" }).filter(
    ([, n]) => n > 0,
  );

  return [
    el(
      "div",
      { class: "tiles" },
      gauge("in flight", "in-flight", total(s, "concord_transactions_in_flight")),
      gauge(
        "in doubt",
        "in-doubt",
        total(s, "concord_in_doubt"),
        perLabel("concord_in_doubt", "participant"),
      ),
      gauge(
        "dead letters",
        "dead-letters",
        total(s, "concord_dead_letters"),
        perLabel("concord_dead_letters", "queue"),
      ),
    ),
    el("h3", {}, "Transactions"),
    outcomes,
    el("h3", {}, "Time to decision and completion"),
    el("p", { class: "note" }, "Percentiles as the histogram bucket they fall in."),
    times,
    el("h3", {}, "Why transactions aborted"),
    reasons.length > 0
      ? el(
          "table",
          { id: "abort-reasons" },
          el(
            "tbody",
            {},
            ...reasons.map(([r, n]) => el("tr", {}, el("td", {}, r), el("td", { class: "num" }, count(n)))),
          ),
        )
      : el("p", { class: "note", id: "abort-reasons" }, "No aborts."),
    el("h3", {}, "Trouble"),
    el(
      "table",
      { id: "trouble" },
      el(
        "tbody",
        {},
        ...(
          [
            ["re-sends", "concord_resends_total"],
            ["stalled decisions", "concord_decision_stalls_total"],
            ["stalled compensations", "concord_compensation_stalls_total"],
            ["deadlocks broken", "concord_deadlocks_total"],
            ["lock waits", "concord_lock_waits_total"],
            ["failed calls to HTTP participants", "concord_http_calls_total"],
          ] as const
        ).map(([label, name]) =>
          el(
            "tr",
            {},
            el("td", {}, label),
            el(
              "td",
              { class: "num" },
              count(total(s, name, name === "concord_http_calls_total" ? { outcome: "failed" } : {})),
            ),
          ),
        ),
      ),
    ),
  ];
}
