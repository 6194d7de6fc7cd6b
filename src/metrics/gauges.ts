/**
 * The gauges of a scrape, read from where the state lives (indexes, queue
 * attributes) at the moment of the scrape, so every process that serves
 * `/metrics` reports the same values. A source that fails is left out of that
 * scrape and logged; the counters are still served.
 */
import type { Logger } from "@aws-lambda-powertools/logger";
import type { GaugeReading } from "./catalog.ts";

export interface GaugeSources {
  /** Transactions begun and not yet decided. */
  inFlight(): Promise<number>;
  /** Participant → prepared barriers older than the in-doubt threshold. */
  inDoubt(): Promise<ReadonlyMap<string, number>>;
  /** Dead-letter queue (logical name) → messages in it. */
  deadLetters(): Promise<ReadonlyMap<string, number>>;
}

export async function readGauges(sources: GaugeSources, log: Logger): Promise<GaugeReading[]> {
  const [inFlight, inDoubt, deadLetters] = await Promise.allSettled([
    sources.inFlight(),
    sources.inDoubt(),
    sources.deadLetters(),
  ]);
  const readings: GaugeReading[] = [];
  if (inFlight.status === "fulfilled") {
    readings.push({ name: "concord_transactions_in_flight", labels: {}, value: inFlight.value });
  }
  if (inDoubt.status === "fulfilled") {
    for (const [participant, value] of inDoubt.value) {
      readings.push({ name: "concord_in_doubt", labels: { participant }, value });
    }
  }
  if (deadLetters.status === "fulfilled") {
    for (const [queue, value] of deadLetters.value) {
      readings.push({ name: "concord_dead_letters", labels: { queue }, value });
    }
  }
  for (const [gauge, result] of [
    ["in flight", inFlight],
    ["in doubt", inDoubt],
    ["dead letters", deadLetters],
  ] as const) {
    if (result.status === "rejected") {
      log.warn("metrics gauge could not be read; left out of this scrape", {
        gauge,
        error: String(result.reason),
      });
    }
  }
  return readings;
}
