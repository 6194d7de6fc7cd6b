/** The client-facing shape of a transaction (design §3), derived from the record. */
import type { ParticipantState, TxEvent, TxRecord, TxState } from "./transaction.ts";

export const STATUSES = ["pending", "committed", "aborted"] as const;
export type Status = (typeof STATUSES)[number];

export type BranchState =
  | "pending"
  | "prepared"
  | "refused"
  | "committing"
  | "committed"
  | "aborting"
  | "rolled_back";

export interface BranchView {
  readonly participant: string;
  readonly action: string;
  readonly state: BranchState;
  readonly vote?: "yes" | "no";
  readonly reason?: string;
}

export interface EventView extends Omit<TxEvent, "at"> {
  readonly at: string;
}

export interface TransactionView {
  readonly id: string;
  readonly protocol: string;
  readonly status: Status;
  readonly phase: TxState;
  readonly reason?: string;
  readonly createdAt: string;
  readonly deadline: string;
  readonly decidedAt?: string;
  readonly completedAt?: string;
  /** Re-sends by the sweeper in the current phase. */
  readonly attempts: number;
  readonly branches: readonly BranchView[];
  readonly events: readonly EventView[];
  readonly eventsDropped?: number;
}

/** `committed` as soon as the commit decision is durable; `completedAt` once applied everywhere. */
export function statusOf(state: TxState): Status {
  if (state === "committing" || state === "committed") return "committed";
  if (state === "aborting" || state === "aborted") return "aborted";
  return "pending";
}

function branchState(tx: TxRecord, p: ParticipantState | undefined): BranchState {
  if (p?.vote === "no") return "refused";
  switch (tx.state) {
    case "preparing":
      return p?.vote === "yes" ? "prepared" : "pending";
    case "committing":
      return p?.acked ? "committed" : "committing";
    case "committed":
      return "committed";
    case "aborting":
      return p?.acked ? "rolled_back" : "aborting";
    case "aborted":
      return "rolled_back";
  }
}

const iso = (ms: number) => new Date(ms).toISOString();

export function toView(tx: TxRecord): TransactionView {
  const byBranch = new Map<number, ParticipantState>();
  for (const p of tx.participants) for (const i of p.branches) byBranch.set(i, p);
  return {
    id: tx.id,
    protocol: tx.protocol,
    status: statusOf(tx.state),
    phase: tx.state,
    ...(tx.reason !== undefined ? { reason: tx.reason } : {}),
    createdAt: iso(tx.createdAt),
    deadline: iso(tx.deadline),
    ...(tx.decidedAt !== undefined ? { decidedAt: iso(tx.decidedAt) } : {}),
    ...(tx.completedAt !== undefined ? { completedAt: iso(tx.completedAt) } : {}),
    attempts: tx.attempts,
    branches: tx.branches.map((b, i) => {
      const p = byBranch.get(i);
      const blamed = p?.vote === "no" && (p.failedBranch === undefined || p.failedBranch === i);
      return {
        participant: b.participant,
        action: b.action,
        state: branchState(tx, p),
        ...(p?.vote !== undefined ? { vote: p.vote } : {}),
        ...(blamed && p?.reason !== undefined ? { reason: p.reason } : {}),
      };
    }),
    events: tx.events.map((e) => ({ ...e, at: iso(e.at) })),
    ...(tx.eventsDropped > 0 ? { eventsDropped: tx.eventsDropped } : {}),
  };
}
