/**
 * The metrics port: what the use cases call where things happen. The wiring
 * picks the backend — an in-process Prometheus registry locally (prometheus.ts),
 * CloudWatch embedded metrics on Lambda (cloudwatch-emf.ts) — or none.
 */
import type { TxEvent, TxRecord } from "../core/transaction.ts";
import {
  type CounterName,
  type GaugeReading,
  type HistogramName,
  type LabelsOf,
  reasonLabel,
} from "./catalog.ts";

export interface Metrics {
  count<N extends CounterName>(name: N, labels: LabelsOf<N>, by?: number): void;
  observe<N extends HistogramName>(name: N, labels: LabelsOf<N>, value: number): void;
  /** Sends what is buffered (CloudWatch, once per invocation); absent where nothing is buffered. */
  flush?(): void;
  /**
   * The Prometheus text of everything counted in this process, with the gauges
   * given (read on scrape); absent where metrics are not scraped (Lambda).
   */
  scrape?(gauges: readonly GaugeReading[]): Promise<string>;
}

export const noMetrics: Metrics = { count() {}, observe() {} };

/** Events written by this change: the newest of `after`'s, however many the timeline dropped. */
function appended(before: TxRecord, after: TxRecord): readonly TxEvent[] {
  const added = after.events.length + after.eventsDropped - (before.events.length + before.eventsDropped);
  return added > 0 ? after.events.slice(-added) : [];
}

const RESENT_STEP: Partial<Record<TxEvent["type"], string>> = {
  prepare_resent: "prepare",
  decision_resent: "decision",
  // One-phase: the ROLLBACK that asks a participant how the transaction ended, sent again.
  outcome_asked_again: "decision",
  action_resent: "action",
  compensation_resent: "compensation",
};

/** Messages an event is about: the participants it names and those it counts, or its one branch. */
const messagesOf = (e: TxEvent) =>
  e.participants ? e.participants.length + (e.participantsOmitted ?? 0) : 1;

const outcomeOf = (tx: TxRecord): string => {
  switch (tx.state) {
    case "committing":
    case "committed":
      return "commit";
    default:
      return "abort";
  }
};

/**
 * What one durable write of a record says: a decision (its time from the
 * record's createdAt to decidedAt), a completion (to completedAt), re-sends.
 * Times come from the record, not the handler's clock, so a redelivered
 * message that writes nothing counts nothing.
 */
export function recordWrite(metrics: Metrics, before: TxRecord, after: TxRecord): void {
  const { protocol } = after;
  const reason = reasonLabel(after.reason);
  if (before.decidedAt === undefined && after.decidedAt !== undefined) {
    const outcome = outcomeOf(after);
    metrics.count("concord_transactions_decided_total", { protocol, outcome, reason });
    metrics.observe(
      "concord_time_to_decision_seconds",
      { protocol, outcome },
      (after.decidedAt - after.createdAt) / 1000,
    );
  }
  if (before.completedAt === undefined && after.completedAt !== undefined) {
    const outcome = after.state;
    metrics.count("concord_transactions_completed_total", { protocol, outcome, reason });
    metrics.observe(
      "concord_time_to_completion_seconds",
      { protocol, outcome },
      (after.completedAt - after.createdAt) / 1000,
    );
  }
  for (const e of appended(before, after)) {
    const step = RESENT_STEP[e.type];
    if (step) metrics.count("concord_resends_total", { protocol, step }, messagesOf(e));
  }
}
