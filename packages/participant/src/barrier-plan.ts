/**
 * What the barrier (./barrier.ts) decides in: plans, the records' keys and
 * states, the answers it gives, and the checks its rules share.
 */
import type { Branch, ParticipantRequest } from "./request.ts";
import type { BarrierRecord, BarrierState } from "./store.ts";

export interface Answer {
  readonly status: number;
  readonly body: unknown;
}

/** A record as a plan wants it written; the executor adds key, version, lease and expiry. */
export type Draft = Omit<BarrierRecord, "key" | "version" | "lease" | "expiresAt">;

export type Rule = "prepare" | "commit" | "rollback" | "action" | "compensate";

export type Plan =
  | { readonly kind: "answer"; readonly answer: Answer }
  | {
      readonly kind: "write";
      readonly key: string;
      readonly expectedVersion: number;
      readonly draft: Draft;
      readonly answer: Answer;
    }
  | {
      readonly kind: "run";
      readonly key: string;
      readonly expectedVersion: number;
      readonly claim: Draft;
      readonly rule: Rule;
      /** What the rule is handed as `data` (what prepare or action returned). */
      readonly data: unknown;
      readonly branches: readonly Branch[];
    }
  | { readonly kind: "busy"; readonly reason: string };

export interface Records {
  readonly twoPhase?: BarrierRecord | undefined;
  readonly step?: BarrierRecord | undefined;
}

export const twoPhaseKey = (participant: string, txId: string) => `2pc#${participant}#${txId}`;
export const stepKey = (participant: string, txId: string, branch: number) =>
  `step#${participant}#${txId}#${branch}`;

const IN_FLIGHT: ReadonlySet<BarrierState> = new Set([
  "preparing",
  "committing",
  "rolling_back",
  "acting",
  "compensating",
]);
/** Nothing more will change them: they may expire. */
export const SETTLED: ReadonlySet<BarrierState> = new Set([
  "refused",
  "committed",
  "rolled_back",
  "failed",
  "compensated",
]);

export const isInFlight = (state: BarrierState) => IN_FLIGHT.has(state);
export const leaseLive = (r: BarrierRecord, now: number) => r.lease !== undefined && r.lease.until > now;

/** Written for another transaction under the same id (its record expired, the id was used again). */
export const otherIncarnation = (r: BarrierRecord, req: ParticipantRequest) =>
  r.incarnation !== undefined && req.startedAt !== undefined && r.incarnation !== req.startedAt;

export const incarnationOf = (req: ParticipantRequest) =>
  req.startedAt !== undefined ? { incarnation: req.startedAt } : {};

export const answers = {
  yes: { status: 200, body: { vote: "yes" } },
  ack: { status: 200, body: { acknowledged: true } },
  done: { status: 200, body: { outcome: "done" } },
  compensated: { status: 200, body: { outcome: "compensated" } },
  unknownTransaction: {
    status: 404,
    body: { error: { code: "unknown_transaction", message: "no such transaction here" } },
  },
  refuse: (reason: string, branch?: number): Answer => ({
    status: 409,
    body: { reason, ...(branch !== undefined ? { branch } : {}) },
  }),
} as const;

export const sameBranches = (recorded: readonly Branch[] | undefined, asked: readonly Branch[]) =>
  recorded === undefined ||
  (recorded.length === asked.length && recorded.every((b, i) => b.branch === asked[i]?.branch));

export function withoutLease(r: BarrierRecord): Draft {
  const { key: _key, version: _version, lease: _lease, expiresAt: _expiresAt, ...draft } = r;
  return draft;
}
