/**
 * Named points between two durable steps where a test can make this process
 * die (SIGKILL, as a crash would) or fail (throw, as a bug or an outage would).
 * Configured by CONCORD_CRASH_AT, e.g.
 *   CONCORD_CRASH_AT=after-decision-before-send          (die the first time)
 *   CONCORD_CRASH_AT=after-commit-before-ack:3           (die the third time)
 *   CONCORD_CRASH_AT=before-prepare:throw                (fail every time)
 * Unset, every point is a no-op.
 */
export const CRASH_POINTS = [
  // API
  "after-record-before-prepare",
  // coordinator
  "after-votes-before-decision",
  "after-decision-before-send",
  // sweeper
  "after-claim-before-send",
  // participant
  "before-prepare",
  "after-prepare-before-vote",
  "before-commit",
  "after-commit-before-ack",
  "after-rollback-before-ack",
  "after-step-before-result",
  // a participant (or the dispatcher), handling a message the coordinator's handling sent it in its own invocation
  "before-self-delivery",
] as const;
export type CrashPoint = (typeof CRASH_POINTS)[number];

export type Crash = (point: CrashPoint) => void;

export class InjectedFailure extends Error {
  override name = "InjectedFailure";
}

export class CrashConfigError extends Error {
  override name = "CrashConfigError";
}

export const noCrash: Crash = () => {};

interface Rule {
  readonly action: "kill" | "throw";
  /** Die on this hit (1-based); throw rules fire on every hit. */
  readonly onHit: number;
}

/** What CONCORD_CRASH_AT asks for, by crash point. */
export type CrashRules = ReadonlyMap<CrashPoint, Rule>;

/** Reads a CONCORD_CRASH_AT value; unset or empty: no rules. */
export function parseCrashSpec(spec: string | undefined): CrashRules | undefined {
  const text = spec?.trim();
  if (!text) return undefined;
  const rules = new Map<CrashPoint, Rule>();
  for (const part of text
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean)) {
    const [name = "", arg] = part.split(":");
    if (!(CRASH_POINTS as readonly string[]).includes(name)) {
      throw new CrashConfigError(
        `CONCORD_CRASH_AT names "${name}"; crash points are ${CRASH_POINTS.join(", ")}`,
      );
    }
    const point = name as CrashPoint;
    if (arg === "throw") rules.set(point, { action: "throw", onHit: 1 });
    else {
      const n = arg === undefined ? 1 : Number(arg);
      if (!Number.isInteger(n) || n < 1)
        throw new CrashConfigError(`"${part}": the hit count must be a positive integer`);
      rules.set(point, { action: "kill", onHit: n });
    }
  }
  return rules;
}

/** The crash function of this process: counts hits per point from now on. */
export function armCrash(rules: CrashRules | undefined): Crash {
  if (!rules) return noCrash;
  const hits = new Map<string, number>();
  return (point) => {
    const rule = rules.get(point);
    if (!rule) return;
    const hit = (hits.get(point) ?? 0) + 1;
    hits.set(point, hit);
    if (rule.action === "throw") throw new InjectedFailure(`injected failure at ${point}`);
    if (hit === rule.onHit) {
      process.stderr.write(`concord: crash point ${point} reached; killing process ${process.pid}\n`);
      process.kill(process.pid, "SIGKILL");
    }
  };
}
