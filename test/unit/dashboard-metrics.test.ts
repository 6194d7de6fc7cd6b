/**
 * The dashboard's reading of `GET /metrics`: the text the app serves (the
 * Prometheus backend itself, not a hand-written sample) read back into sums and
 * percentile bounds, and label values with quotes and newlines read as they were.
 */
import { describe, expect, it } from "vitest";
import { byLabel, parsePrometheus, quantileBound, total } from "../../src/api/ui/client/prometheus-text.ts";
import { recentFailures } from "../../src/api/ui/client/recent-failures.ts";
import { createPrometheusMetrics } from "../../src/metrics/prometheus.ts";

async function scraped() {
  const m = createPrometheusMetrics();
  m.count("concord_transactions_begun_total", { protocol: "2pc" }, 7);
  m.count("concord_transactions_begun_total", { protocol: "saga" }, 3);
  m.count("concord_transactions_decided_total", { protocol: "2pc", outcome: "commit", reason: "none" }, 5);
  m.count("concord_transactions_decided_total", { protocol: "2pc", outcome: "abort", reason: "timeout" }, 1);
  m.count(
    "concord_transactions_decided_total",
    { protocol: "saga", outcome: "abort", reason: "insufficient_funds" },
    2,
  );
  // Decisions in 0.04 s (x8), 0.3 s (x1), 20 s (x1).
  for (let i = 0; i < 8; i++)
    m.observe("concord_time_to_decision_seconds", { protocol: "2pc", outcome: "commit" }, 0.04);
  m.observe("concord_time_to_decision_seconds", { protocol: "2pc", outcome: "abort" }, 0.3);
  m.observe("concord_time_to_decision_seconds", { protocol: "saga", outcome: "abort" }, 20);
  m.count("concord_http_calls_total", { participant: 'odd "name"\nhere', outcome: "failed" }, 2);
  return parsePrometheus(
    await m.scrape([
      { name: "concord_transactions_in_flight", labels: {}, value: 4 },
      { name: "concord_dead_letters", labels: { queue: "dispatcher-dlq" }, value: 2 },
      { name: "concord_dead_letters", labels: { queue: "participant-bank-1-dlq" }, value: 0 },
    ]),
  );
}

describe("the dashboard's reading of /metrics", () => {
  it("sums counters over the labels it does not name, and by one label", async () => {
    const s = await scraped();
    expect(total(s, "concord_transactions_begun_total")).toBe(10);
    expect(total(s, "concord_transactions_decided_total", { outcome: "abort" })).toBe(3);
    expect(byLabel(s, "concord_transactions_decided_total", "reason", { outcome: "abort" })).toEqual([
      ["insufficient_funds", 2],
      ["timeout", 1],
    ]);
    expect(total(s, "concord_transactions_in_flight")).toBe(4);
    expect(total(s, "concord_dead_letters")).toBe(2);
  });

  it("gives a percentile as the bucket bound it falls under, over every series or some", async () => {
    const s = await scraped();
    expect(quantileBound(s, "concord_time_to_decision_seconds", 0.5)).toBe(0.05);
    expect(quantileBound(s, "concord_time_to_decision_seconds", 0.9)).toBe(0.5);
    expect(quantileBound(s, "concord_time_to_decision_seconds", 0.99)).toBe(30);
    expect(quantileBound(s, "concord_time_to_decision_seconds", 0.5, { protocol: "saga" })).toBe(30);
    expect(quantileBound(s, "concord_time_to_completion_seconds", 0.5)).toBeUndefined();
  });

  it("reads label values with quotes and newlines as they were counted", async () => {
    const s = await scraped();
    expect(total(s, "concord_http_calls_total", { participant: 'odd "name"\nhere', outcome: "failed" })).toBe(
      2,
    );
  });
});

describe("an HTTP participant's failures lately, from a counter that only grows", () => {
  const MINUTE = 60_000;
  const at = (n: number) => new Map([["svc", n]]);

  it("counts every failure since the start until the page has watched a minute, then only the last minute's", () => {
    const lately = recentFailures(MINUTE);
    expect(lately(0, at(11)).get("svc")).toBe(11);
    expect(lately(3_000, at(11)).get("svc")).toBe(11);
    // A minute on with no new failure: healthy again.
    expect(lately(MINUTE, at(11)).get("svc")).toBe(0);
    expect(lately(MINUTE + 3_000, at(12)).get("svc")).toBe(1);
    // The failure is a minute old, then gone from the window.
    expect(lately(2 * MINUTE + 1_000, at(12)).get("svc")).toBe(1);
    expect(lately(2 * MINUTE + 4_000, at(12)).get("svc")).toBe(0);
  });

  it("gives a participant first seen now all of its failures", () => {
    const lately = recentFailures(MINUTE);
    lately(0, at(1));
    expect(
      lately(
        2 * MINUTE,
        new Map([
          ["svc", 1],
          ["new", 3],
        ]),
      ),
    ).toEqual(
      new Map([
        ["svc", 0],
        ["new", 3],
      ]),
    );
  });
});
