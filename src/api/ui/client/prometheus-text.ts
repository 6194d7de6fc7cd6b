/**
 * Reading `GET /metrics` (Prometheus text) in the browser, for the metrics and
 * participants pages: samples with their labels, sums over chosen labels, and
 * quantiles of a histogram as the bucket bound they fall under. Pure: no DOM.
 */

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

const labelValue = (v: string) => v.replace(/\\(["\\n])/g, (_, c: string) => (c === "n" ? "\n" : c));

/** Every sample of the text; comments and lines it cannot read are skipped. */
export function parsePrometheus(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const m = LINE.exec(line.trim());
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? "").matchAll(LABEL)) labels[k as string] = labelValue(v as string);
    const value = m[3] === "+Inf" ? Number.POSITIVE_INFINITY : Number(m[3]);
    if (!Number.isNaN(value)) samples.push({ name: m[1] as string, labels, value });
  }
  return samples;
}

/** The samples of one metric that carry these label values. */
export const select = (samples: readonly Sample[], name: string, where: Record<string, string> = {}) =>
  samples.filter((s) => s.name === name && Object.entries(where).every(([k, v]) => s.labels[k] === v));

/** The sum of a metric's samples matching `where`. */
export const total = (samples: readonly Sample[], name: string, where: Record<string, string> = {}) =>
  select(samples, name, where).reduce((sum, s) => sum + s.value, 0);

/** A metric's sums by the value of one label, largest first. */
export function byLabel(
  samples: readonly Sample[],
  name: string,
  label: string,
  where: Record<string, string> = {},
): [string, number][] {
  const sums = new Map<string, number>();
  for (const s of select(samples, name, where)) {
    const key = s.labels[label] ?? "";
    sums.set(key, (sums.get(key) ?? 0) + s.value);
  }
  return [...sums].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
}

/**
 * The bucket bound (seconds) under which a share `q` of a histogram's
 * observations fall, over the series matching `where`: exact as a bound
 * ("p90 ≤ 0.5 s"), with no interpolation that would invent precision.
 * Undefined without observations; Infinity past the last bucket.
 */
export function quantileBound(
  samples: readonly Sample[],
  histogram: string,
  q: number,
  where: Record<string, string> = {},
): number | undefined {
  const cumulative = new Map<number, number>();
  for (const s of select(samples, `${histogram}_bucket`, where)) {
    const le = s.labels.le === "+Inf" ? Number.POSITIVE_INFINITY : Number(s.labels.le);
    cumulative.set(le, (cumulative.get(le) ?? 0) + s.value);
  }
  const bounds = [...cumulative].sort((a, b) => a[0] - b[0]);
  const count = bounds.at(-1)?.[1] ?? 0;
  if (count === 0) return undefined;
  return bounds.find(([, n]) => n >= q * count)?.[0];
}
