/**
 * Metrics in one process's memory, served as Prometheus text at `GET /metrics`
 * (prom-client). Counters and histograms count what this process did; gauges
 * are what the caller read from the store and the queues on this scrape.
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { type GaugeReading, METRICS, type MetricName, SECONDS_BUCKETS } from "./catalog.ts";
import type { Metrics } from "./metrics.ts";

type Instrument = Counter | Histogram | Gauge;

export function createPrometheusMetrics(): Metrics & Required<Pick<Metrics, "scrape">> {
  const registry = new Registry();
  const instruments = new Map<MetricName, Instrument>();
  for (const [name, def] of Object.entries(METRICS) as [MetricName, (typeof METRICS)[MetricName]][]) {
    const common = { name, help: def.help, labelNames: [...def.labels], registers: [registry] };
    instruments.set(
      name,
      def.kind === "counter"
        ? new Counter(common)
        : def.kind === "histogram"
          ? new Histogram({ ...common, buckets: [...SECONDS_BUCKETS] })
          : new Gauge(common),
    );
  }
  const get = <T extends Instrument>(name: MetricName) => instruments.get(name) as T;

  return {
    count(name, labels, by = 1) {
      get<Counter>(name).inc(labels, by);
    },
    observe(name, labels, value) {
      get<Histogram>(name).observe(labels, value);
    },
    async scrape(gauges: readonly GaugeReading[]) {
      // Each scrape states every gauge afresh: a queue drained since the last one reads 0, not its old depth.
      for (const name of Object.keys(METRICS) as MetricName[]) {
        if (METRICS[name].kind === "gauge") get<Gauge>(name).reset();
      }
      for (const g of gauges) get<Gauge>(g.name).set(g.labels, g.value);
      return registry.metrics();
    },
  };
}
