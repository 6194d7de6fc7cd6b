/**
 * The metrics of a transaction's life, as an operator scrapes them: what each
 * write of a record counts, the Prometheus text it renders to, and the
 * CloudWatch embedded metrics a Lambda invocation writes.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { reasonOf } from "../../src/core/reasons.ts";
import type { TwoPcRecord } from "../../src/core/transaction.ts";
import { begin, onAck, onSweep, onVote } from "../../src/core/two-phase-commit.ts";
import { CLOUDWATCH_NAMESPACE, LABEL_NAMES, METRICS, reasonLabel } from "../../src/metrics/catalog.ts";
import { createCloudWatchEmfMetrics } from "../../src/metrics/cloudwatch-emf.ts";
import { type Metrics, recordWrite } from "../../src/metrics/metrics.ts";
import { createPrometheusMetrics } from "../../src/metrics/prometheus.ts";
import { TEST_POLICY } from "../helpers/policy.ts";

const policy = TEST_POLICY;
const T0 = 1_000_000;

function started(participants: readonly string[]): TwoPcRecord {
  const branches = participants.map((participant) => ({
    participant,
    action: "deposit",
    input: { account: "a", amount: 1 },
  }));
  return begin({ id: "tx-secret-id", requestHash: "h", timeoutMs: 60_000, branches }, T0, policy).next;
}

type Call = { kind: "count" | "observe"; name: string; labels: Record<string, string>; value: number };
function recorder(): Metrics & { calls: Call[] } {
  const calls: Call[] = [];
  return {
    calls,
    count: (name, labels, by = 1) => calls.push({ kind: "count", name, labels: { ...labels }, value: by }),
    observe: (name, labels, value) => calls.push({ kind: "observe", name, labels: { ...labels }, value }),
  };
}

/** Every series line of a Prometheus text: its metric name and labels. */
function series(text: string): { name: string; labels: Record<string, string>; value: number }[] {
  return text
    .split("\n")
    .filter((line) => line !== "" && !line.startsWith("#"))
    .map((line) => {
      const m = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (!m) throw new Error(`not a series line: ${line}`);
      const labels: Record<string, string> = {};
      for (const [, k, v] of (m[2] ?? "").matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g))
        labels[k ?? ""] = v ?? "";
      return { name: m[1] ?? "", labels, value: Number(m[3]) };
    });
}

describe("what a write of a record counts", () => {
  it("a decision once, with its outcome, bucketed reason and the record's own time to decide", () => {
    const tx = started(["bank-1", "bank-2"]);
    const voted = onVote(tx, { participant: "bank-1", vote: "yes" }, T0 + 100, policy).next;
    const decided = onVote(
      voted,
      { participant: "bank-2", vote: "no", reason: reasonOf("insufficient_funds") },
      T0 + 1_500,
      policy,
    ).next;
    const m = recorder();
    recordWrite(m, tx, voted);
    expect(m.calls).toEqual([]);
    recordWrite(m, voted, decided);
    expect(m.calls).toEqual([
      {
        kind: "count",
        name: "concord_transactions_decided_total",
        labels: { protocol: "2pc", outcome: "abort", reason: "other" },
        value: 1,
      },
      {
        kind: "observe",
        name: "concord_time_to_decision_seconds",
        labels: { protocol: "2pc", outcome: "abort" },
        value: 1.5,
      },
    ]);
    // A redelivered message that rewrites a decided record counts no second decision.
    const again = recorder();
    recordWrite(again, decided, { ...decided, version: decided.version + 1 });
    expect(again.calls).toEqual([]);
  });

  it("a completion with its final state, timed from the record's creation", () => {
    const tx = started(["bank-1"]);
    const decided = onVote(tx, { participant: "bank-1", vote: "yes" }, T0 + 200, policy).next;
    const done = onAck(decided, { participant: "bank-1", decision: "commit" }, T0 + 2_000, policy).next;
    const m = recorder();
    recordWrite(m, decided, done);
    expect(m.calls).toEqual([
      {
        kind: "count",
        name: "concord_transactions_completed_total",
        labels: { protocol: "2pc", outcome: "committed", reason: "none" },
        value: 1,
      },
      {
        kind: "observe",
        name: "concord_time_to_completion_seconds",
        labels: { protocol: "2pc", outcome: "committed" },
        value: 2,
      },
    ]);
  });

  it("re-sends: one per message sent again, participants named or only counted", () => {
    const names = Array.from({ length: 14 }, (_, i) => `bank-${i + 1}`);
    const tx = started(names);
    const resent = onSweep(tx, T0 + policy.prepareRetryMs + 1, policy).next;
    const m = recorder();
    recordWrite(m, tx, resent);
    const resends = m.calls.filter((c) => c.name === "concord_resends_total");
    expect(resends.map((c) => c.labels)).toEqual([{ protocol: "2pc", step: "prepare" }]);
    expect(resends.reduce((n, c) => n + c.value, 0)).toBe(14);
  });

  it("buckets reasons: concord's own as they are, none when absent, a service's own text as other", () => {
    expect(reasonLabel("timeout")).toBe("timeout");
    expect(reasonLabel("aborted_by_operator")).toBe("aborted_by_operator");
    expect(reasonLabel(undefined)).toBe("none");
    expect(reasonLabel("card declined for customer 4711")).toBe("other");
    expect(reasonLabel("__proto__")).toBe("other");
  });
});

describe("Prometheus text", () => {
  it("renders counters with their labels, HELP and TYPE", async () => {
    const m = createPrometheusMetrics();
    m.count("concord_transactions_begun_total", { protocol: "2pc" });
    m.count("concord_transactions_begun_total", { protocol: "2pc" });
    m.count("concord_transactions_begun_total", { protocol: "saga" });
    const text = await m.scrape([]);
    expect(text).toContain("# TYPE concord_transactions_begun_total counter");
    expect(text).toContain(
      `# HELP concord_transactions_begun_total ${METRICS.concord_transactions_begun_total.help}`,
    );
    expect(text).toContain('concord_transactions_begun_total{protocol="2pc"} 2');
    expect(text).toContain('concord_transactions_begun_total{protocol="saga"} 1');
  });

  it("escapes label values: quote, backslash and newline stay inside the value", async () => {
    const m = createPrometheusMetrics();
    m.count("concord_lock_waits_total", { participant: 'a"b\\c\nd' });
    const text = await m.scrape([]);
    expect(text).toContain('concord_lock_waits_total{participant="a\\"b\\\\c\\nd"} 1');
    const waits = series(text).filter((s) => s.name === "concord_lock_waits_total");
    expect(waits).toHaveLength(1);
  });

  it("puts each observation in every bucket at or above it, with sum and count", async () => {
    const m = createPrometheusMetrics();
    m.observe("concord_time_to_decision_seconds", { protocol: "2pc", outcome: "commit" }, 0.3);
    m.observe("concord_time_to_decision_seconds", { protocol: "2pc", outcome: "commit" }, 7);
    const lines = series(await m.scrape([])).filter((s) => s.labels.outcome === "commit");
    const bucket = (le: string) =>
      lines.find((s) => s.name === "concord_time_to_decision_seconds_bucket" && s.labels.le === le)?.value;
    expect(bucket("0.25")).toBe(0);
    expect(bucket("0.5")).toBe(1);
    expect(bucket("5")).toBe(1);
    expect(bucket("10")).toBe(2);
    expect(bucket("+Inf")).toBe(2);
    expect(lines.find((s) => s.name === "concord_time_to_decision_seconds_sum")?.value).toBeCloseTo(7.3);
    expect(lines.find((s) => s.name === "concord_time_to_decision_seconds_count")?.value).toBe(2);
  });

  it("states gauges as read on each scrape: a queue drained since reads 0, not its old depth", async () => {
    const m = createPrometheusMetrics();
    const first = series(
      await m.scrape([
        { name: "concord_dead_letters", labels: { queue: "coordinator-dlq" }, value: 3 },
        { name: "concord_transactions_in_flight", labels: {}, value: 12 },
      ]),
    );
    expect(first).toContainEqual({
      name: "concord_dead_letters",
      labels: { queue: "coordinator-dlq" },
      value: 3,
    });
    expect(first).toContainEqual({ name: "concord_transactions_in_flight", labels: {}, value: 12 });
    const second = series(
      await m.scrape([{ name: "concord_dead_letters", labels: { queue: "coordinator-dlq" }, value: 0 }]),
    );
    expect(second).toContainEqual({
      name: "concord_dead_letters",
      labels: { queue: "coordinator-dlq" },
      value: 0,
    });
    expect(second.find((s) => s.name === "concord_transactions_in_flight")?.value ?? 0).toBe(0);
  });

  it("labels nothing by transaction: every label name is from the allow-list, no value is a transaction id", async () => {
    const m = createPrometheusMetrics();
    // A whole life: begun, a participant's own reason, re-sends, completion.
    m.count("concord_transactions_begun_total", { protocol: "2pc" });
    const tx = started(["bank-1", "bank-2"]);
    const resent = onSweep(tx, T0 + 1_001, policy).next;
    const decided = onVote(
      onVote(resent, { participant: "bank-1", vote: "yes" }, T0 + 1_100, policy).next,
      { participant: "bank-2", vote: "no", reason: reasonOf("tx-secret-id refused") },
      T0 + 1_200,
      policy,
    ).next;
    recordWrite(m, tx, resent);
    recordWrite(m, resent, decided);
    m.count("concord_lock_waits_total", { participant: "bank-1" });
    const text = await m.scrape([
      { name: "concord_in_doubt", labels: { participant: "bank-1" }, value: 1 },
      { name: "concord_dead_letters", labels: { queue: "coordinator-dlq" }, value: 0 },
    ]);
    const all = series(text);
    expect(
      all.some((s) => s.name === "concord_transactions_decided_total" && s.labels.reason === "other"),
    ).toBe(true);
    const allowed = new Set<string>([...LABEL_NAMES, "le"]);
    for (const s of all) {
      for (const label of Object.keys(s.labels)) expect(allowed.has(label), `${s.name} ${label}`).toBe(true);
    }
    expect(text).not.toContain("tx-secret-id");
    for (const def of Object.values(METRICS)) {
      for (const label of def.labels) expect(LABEL_NAMES).toContain(label);
    }
  });
});

describe("CloudWatch embedded metrics", () => {
  afterEach(() => vi.restoreAllMocks());

  /** The EMF documents Powertools writes to stdout while `run` runs. */
  function written(run: () => void): Record<string, unknown>[] {
    const lines: string[] = [];
    vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    run();
    vi.restoreAllMocks();
    return lines
      .join("")
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  it("writes one document per label set on flush, labels as dimensions beside the service", () => {
    const m = createCloudWatchEmfMetrics({ service: "acme" });
    const docs = written(() => {
      m.count("concord_transactions_decided_total", { protocol: "2pc", outcome: "abort", reason: "timeout" });
      m.count("concord_transactions_decided_total", { protocol: "2pc", outcome: "abort", reason: "timeout" });
      m.observe("concord_time_to_decision_seconds", { protocol: "2pc", outcome: "abort" }, 1.25);
      m.count("concord_decision_stalls_total", {});
      m.flush();
    });
    expect(docs).toHaveLength(3);
    const decided = docs.find((d) => "TransactionsDecided" in d);
    expect(decided).toMatchObject({
      _aws: {
        CloudWatchMetrics: [
          {
            Namespace: CLOUDWATCH_NAMESPACE,
            Dimensions: [["service", "protocol", "outcome", "reason"]],
            Metrics: [{ Name: "TransactionsDecided", Unit: "Count" }],
          },
        ],
      },
      service: "acme",
      protocol: "2pc",
      outcome: "abort",
      reason: "timeout",
      TransactionsDecided: [1, 1],
    });
    expect(docs.find((d) => "TimeToDecision" in d)).toMatchObject({
      _aws: { CloudWatchMetrics: [{ Metrics: [{ Name: "TimeToDecision", Unit: "Milliseconds" }] }] },
      TimeToDecision: 1250,
    });
    // The alarms' metric: the service its only dimension.
    expect(docs.find((d) => "DecisionStalled" in d)).toMatchObject({
      _aws: { CloudWatchMetrics: [{ Dimensions: [["service"]] }] },
      service: "acme",
      DecisionStalled: 1,
    });
  });

  it("writes nothing for an invocation that counted nothing, and nothing twice", () => {
    const m = createCloudWatchEmfMetrics({ service: "acme" });
    expect(written(() => m.flush())).toEqual([]);
    m.count("concord_transactions_begun_total", { protocol: "saga" });
    expect(written(() => m.flush())).toHaveLength(1);
    expect(written(() => m.flush())).toEqual([]);
  });
});
