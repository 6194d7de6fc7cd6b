/** The chaos run's progress line and its one-screen report. */
import type { DeadLetters, StoredState } from "./checker.ts";
import type { SupervisorStats } from "./supervisor.ts";
import type { ClientRecord, Told } from "./workload.ts";

export interface RunSummary {
  readonly seed: number;
  readonly settings: string;
  readonly transfers: number;
  readonly records: ReadonlyMap<string, ClientRecord>;
  readonly state: StoredState;
  readonly chaosMs: number;
  /** From the faults stopping to every transaction final (undefined: it never happened in time). */
  readonly resolveMs: number | undefined;
  readonly supervisor: SupervisorStats;
  readonly deadLetters: readonly DeadLetters[];
  readonly violations: readonly string[];
}

const MAX_VIOLATIONS_SHOWN = 15;

export function formatReport(s: RunSummary): string {
  const told = new Map<Told, number>();
  let retries = 0;
  for (const r of s.records.values()) {
    told.set(r.told, (told.get(r.told) ?? 0) + 1);
    retries += r.retries;
  }
  const stored = new Map<string, number>();
  const reasons = new Map<string, number>();
  let resends = 0;
  for (const t of s.state.txs) {
    stored.set(String(t.state), (stored.get(String(t.state)) ?? 0) + 1);
    resends += Number(t.attempts ?? 0);
    if (t.state === "aborted" || t.state === "compensated") {
      const reason = String(t.reason ?? "unknown").split(/[:\s]/)[0] ?? "unknown";
      reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
    }
  }
  const reasonText = [...reasons]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 5)
    .map(([r, n]) => `${r} ${n}`)
    .join(", ");
  const count = (m: Map<string, number>, k: string) => m.get(k) ?? 0;
  const sagas = s.state.txs.filter((t) => t.protocol === "saga").length;
  const dlqTotal = s.deadLetters.reduce((n, d) => n + d.count, 0);
  const lines = [
    "",
    `── concord chaos run ── seed ${s.seed} ─────────────────────────────`,
    `  settings      ${s.settings}`,
    `  transfers     ${s.records.size} of ${s.transfers} sent in ${(s.chaosMs / 1000).toFixed(1)} s (${(s.records.size / (s.chaosMs / 1000)).toFixed(1)}/s)`,
    `  client told   committed ${count(told, "committed")}  aborted ${count(told, "aborted")}  pending ${count(told, "pending")}  unknown ${count(told, "unknown")}  rejected ${count(told, "rejected")}`,
    `  stored        committed ${count(stored, "committed")}  aborted ${count(stored, "aborted")}  compensated ${count(stored, "compensated")}  other ${s.state.txs.length - count(stored, "committed") - count(stored, "aborted") - count(stored, "compensated")}  (total ${s.state.txs.length}, ${sagas} sagas)`,
    `  abort reasons ${reasonText || "none"}`,
    `  processes     ${s.supervisor.kills} SIGKILLed, ${s.supervisor.crashes} died at a crash point, ${s.supervisor.restarts} restarts`,
    `  retries       ${retries} client HTTP retries, ${resends} sweeper re-sends`,
    `  resolved      ${s.resolveMs === undefined ? "NOT within the bound" : `${(s.resolveMs / 1000).toFixed(1)} s after the faults stopped`}`,
    `  dead letters  ${
      dlqTotal === 0
        ? "none"
        : s.deadLetters
            .filter((d) => d.count > 0)
            .map((d) => `${d.queue}: ${d.count}`)
            .join(", ")
    }`,
    ...s.deadLetters.flatMap((d) => d.sample.map((b) => `                ${b}`)),
    `  violations    ${s.violations.length}`,
    ...s.violations.slice(0, MAX_VIOLATIONS_SHOWN).map((x) => `    ✗ ${x}`),
    ...(s.violations.length > MAX_VIOLATIONS_SHOWN
      ? [`    … and ${s.violations.length - MAX_VIOLATIONS_SHOWN} more`]
      : []),
    s.violations.length === 0
      ? "  result        PASS: every invariant of design §4 holds"
      : "  result        FAIL",
    "",
  ];
  return lines.join("\n");
}

/** A one-line progress bar: `\r` on a terminal, a plain line every few seconds otherwise. */
export function progressLine(done: number, total: number, startedAt: number, extra: string): string {
  const width = 28;
  const filled = total === 0 ? width : Math.round((done / total) * width);
  const rate = done / Math.max(0.001, (Date.now() - startedAt) / 1000);
  return `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${done}/${total} ${rate.toFixed(1)}/s ${extra}`;
}
