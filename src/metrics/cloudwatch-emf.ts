/**
 * Metrics on Lambda: CloudWatch embedded metric format (Powertools Metrics),
 * written to stdout as JSON with the function's logs and turned into metrics
 * by CloudWatch — no API call, nothing to wait for. One Powertools instance per
 * label set (their number is bounded: see catalog.ts), so each metric's labels
 * become its dimensions, plus `service` (the stack's prefix) on every one. The
 * Lambda entry flushes once per invocation.
 */
import { MetricUnit, Metrics as PowertoolsMetrics } from "@aws-lambda-powertools/metrics";

type Unit = (typeof MetricUnit)[keyof typeof MetricUnit];

import { CLOUDWATCH_NAMESPACE, type LabelsOf, METRICS, type MetricName } from "./catalog.ts";
import type { Metrics } from "./metrics.ts";

export interface CloudWatchEmfOptions {
  /** The `service` dimension: the stack's prefix, so two stacks in one account stay apart. */
  readonly service: string;
}

export function createCloudWatchEmfMetrics(options: CloudWatchEmfOptions): Metrics & { flush(): void } {
  const bySeries = new Map<string, PowertoolsMetrics>();
  const seriesOf = (labels: Readonly<Record<string, string>>) => {
    const key = JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1)));
    let series = bySeries.get(key);
    if (!series) {
      series = new PowertoolsMetrics({ namespace: CLOUDWATCH_NAMESPACE, serviceName: options.service });
      if (Object.keys(labels).length > 0) series.setDefaultDimensions({ ...labels });
      bySeries.set(key, series);
    }
    return series;
  };
  const add = <N extends MetricName>(name: N, labels: LabelsOf<N>, unit: Unit, value: number) => {
    const cloudWatch = (METRICS[name] as { cloudWatch?: string }).cloudWatch;
    if (cloudWatch) seriesOf(labels).addMetric(cloudWatch, unit, value);
  };
  return {
    count: (name, labels, by = 1) => add(name, labels, MetricUnit.Count, by),
    observe: (name, labels, seconds) =>
      add(name, labels, MetricUnit.Milliseconds, Math.round(seconds * 1000)),
    flush() {
      for (const series of bySeries.values()) {
        if (series.hasStoredMetrics()) series.publishStoredMetrics();
      }
    },
  };
}
