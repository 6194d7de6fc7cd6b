/**
 * The one list of concord's metrics: each with its kind, its help text, its
 * CloudWatch name and the labels it carries. Both backends (Prometheus text
 * locally, CloudWatch embedded metrics on Lambda) read it, so a metric is
 * declared once. Labels are a small fixed set with bounded values: never a
 * transaction id, never a participant's free-form reason. Pure.
 */
import { REASONS } from "../core/reasons.ts";

/** The Prometheus text exposition format served at `GET /metrics`. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** The CloudWatch namespace of every concord metric on Lambda; the stack's alarms read it. */
export const CLOUDWATCH_NAMESPACE = "Concord";

/** Every label any metric may carry; each has a bounded set of values. */
export const LABEL_NAMES = ["protocol", "outcome", "reason", "step", "participant", "queue"] as const;
export type LabelName = (typeof LABEL_NAMES)[number];

/** Seconds from a transaction's start: 50 ms to 10 minutes (timeouts default to one minute). */
export const SECONDS_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600] as const;

interface Definition {
  readonly kind: "counter" | "histogram" | "gauge";
  readonly help: string;
  /** Its name in CloudWatch (namespace `Concord`); gauges are read on scrape and are local only. */
  readonly cloudWatch?: string;
  readonly labels: readonly LabelName[];
}

export const METRICS = {
  concord_transactions_begun_total: {
    kind: "counter",
    help: "Transactions created (a repeated id that returns the existing one is not counted)",
    cloudWatch: "TransactionsBegun",
    labels: ["protocol"],
  },
  concord_transactions_decided_total: {
    kind: "counter",
    help: "Decisions made: outcome commit or abort, with the reason of an abort",
    cloudWatch: "TransactionsDecided",
    labels: ["protocol", "outcome", "reason"],
  },
  concord_transactions_completed_total: {
    kind: "counter",
    help: "Transactions that reached a final state (committed, aborted, compensated)",
    cloudWatch: "TransactionsCompleted",
    labels: ["protocol", "outcome", "reason"],
  },
  concord_time_to_decision_seconds: {
    kind: "histogram",
    help: "From a transaction's creation to its decision, as recorded on it",
    cloudWatch: "TimeToDecision",
    labels: ["protocol", "outcome"],
  },
  concord_time_to_completion_seconds: {
    kind: "histogram",
    help: "From a transaction's creation to its final state, as recorded on it",
    cloudWatch: "TimeToCompletion",
    labels: ["protocol", "outcome"],
  },
  concord_resends_total: {
    kind: "counter",
    help: "Messages sent again because their answer was late (prepare, decision, action, compensation)",
    cloudWatch: "Resends",
    labels: ["protocol", "step"],
  },
  concord_decision_stalls_total: {
    kind: "counter",
    help: "Sweeps that re-sent a decision still unacknowledged after the stalled threshold of attempts",
    cloudWatch: "DecisionStalled",
    labels: [],
  },
  concord_compensation_stalls_total: {
    kind: "counter",
    help: "Sweeps that re-sent a compensation still not done after the stalled threshold of attempts",
    cloudWatch: "CompensationStalled",
    labels: [],
  },
  concord_deadlocks_total: {
    kind: "counter",
    help: "Transactions aborted by the sweeper to break a cycle of lock waits",
    cloudWatch: "Deadlocks",
    labels: [],
  },
  concord_lock_waits_total: {
    kind: "counter",
    help: "PREPAREs that met a lock held by another transaction and waited for it",
    cloudWatch: "LockWaits",
    labels: ["participant"],
  },
  concord_blind_prepare_fallbacks_total: {
    kind: "counter",
    help: "PREPAREs written without a read (declared moves) that the store refused, then read and planned",
    cloudWatch: "BlindPrepareFallbacks",
    labels: ["participant"],
  },
  concord_http_calls_total: {
    kind: "counter",
    help: "Calls the dispatcher made to a registered HTTP participant, by what came back: ok (2xx, or a ROLLBACK's unknown_transaction), refused (409/422) or failed (anything else, no answer, unreachable)",
    cloudWatch: "HttpCalls",
    // Registered names only (an admin registers each): a bounded set, never a transaction's.
    labels: ["participant", "outcome"],
  },
  concord_transactions_in_flight: {
    kind: "gauge",
    help: "Transactions begun and not yet decided (from the status index, read on scrape)",
    labels: [],
  },
  concord_in_doubt: {
    kind: "gauge",
    help: "Prepared barriers older than the in-doubt threshold, per participant (read on scrape)",
    labels: ["participant"],
  },
  concord_dead_letters: {
    kind: "gauge",
    help: "Messages waiting in each dead-letter queue (ApproximateNumberOfMessages, read on scrape)",
    labels: ["queue"],
  },
} as const satisfies Record<string, Definition>;

export type MetricName = keyof typeof METRICS;
type OfKind<K extends Definition["kind"]> = {
  [N in MetricName]: (typeof METRICS)[N]["kind"] extends K ? N : never;
}[MetricName];
export type CounterName = OfKind<"counter">;
export type HistogramName = OfKind<"histogram">;
export type GaugeName = OfKind<"gauge">;

/** The labels a metric takes, each required: a metric's series always carry the same label names. */
export type LabelsOf<N extends MetricName> = {
  readonly [L in (typeof METRICS)[N]["labels"][number]]: string;
};

/** One gauge value read on scrape, with the labels of its gauge. */
export type GaugeReading = {
  readonly [N in GaugeName]: { readonly name: N; readonly labels: LabelsOf<N>; readonly value: number };
}[GaugeName];

/**
 * A reason as a label value: one of concord's own reasons as it is, `none` when
 * there is none (a commit), and `other` for a participant's own free text, which
 * could otherwise make a new series per message.
 */
export const reasonLabel = (reason: string | undefined): string =>
  reason === undefined ? "none" : Object.hasOwn(REASONS, reason) ? reason : "other";
