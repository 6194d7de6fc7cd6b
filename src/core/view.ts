/** The client-facing shape of a transaction (design §3), derived from the record. */
import { decisionOf } from "./atomic-group.ts";
import type {
  Decision,
  ParticipantState,
  SagaRecord,
  TwoPcRecord,
  TxEvent,
  TxRecord,
  TxState,
} from "./transaction.ts";

export const STATUSES = ["pending", "committed", "aborted"] as const;
export type Status = (typeof STATUSES)[number];

export type BranchState =
  | "pending"
  | "prepared"
  | "refused"
  | "committing"
  | "committed"
  | "aborting"
  | "rolled_back"
  // saga steps
  | "running"
  | "done"
  | "failed"
  | "compensating"
  | "compensated";

export interface BranchView {
  readonly participant: string;
  readonly action: string;
  readonly state: BranchState;
  readonly vote?: "yes" | "no";
  readonly reason?: string;
  /** Saga: the branch's stage number. */
  readonly stage?: number;
  /** Saga: the branch's stage runs as a 2PC group. */
  readonly atomic?: true;
  /** Saga: re-sends of the branch's message out now (action, compensation, PREPARE or decision). */
  readonly attempts?: number;
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

/**
 * `committed` as soon as the commit decision is durable; `completedAt` once applied
 * everywhere. A saga is `aborted` from the moment its compensation starts.
 */
export function statusOf(state: TxState): Status {
  switch (state) {
    case "preparing":
    case "running":
      return "pending";
    case "committing":
    case "committed":
      return "committed";
    case "aborting":
    case "aborted":
    case "compensating":
    case "compensated":
      return "aborted";
  }
}

/** A 2PC participant's branch, under its transaction's (or atomic stage's) decision. */
function preparedState(decision: Decision | undefined, p: ParticipantState | undefined): BranchState {
  if (p?.vote === "no") return "refused";
  if (decision === undefined) return p?.vote === "yes" ? "prepared" : "pending";
  if (decision === "commit") return p?.acked ? "committed" : "committing";
  return p?.acked ? "rolled_back" : "aborting";
}

/** Why a participant's no vote names this branch, if it does. */
const blamed = (p: ParticipantState | undefined, i: number) =>
  p?.vote === "no" && (p.failedBranch === undefined || p.failedBranch === i) ? p.reason : undefined;

function twoPcBranches(tx: TwoPcRecord): BranchView[] {
  const byBranch = new Map<number, ParticipantState>();
  for (const p of tx.participants) for (const i of p.branches) byBranch.set(i, p);
  const decision = decisionOf(tx.state);
  return tx.branches.map((b, i) => {
    const p = byBranch.get(i);
    const reason = blamed(p, i);
    return {
      participant: b.participant,
      action: b.action,
      state: preparedState(decision, p),
      ...(p?.vote !== undefined ? { vote: p.vote } : {}),
      ...(reason !== undefined ? { reason } : {}),
    };
  });
}

function sagaBranches(tx: SagaRecord): BranchView[] {
  const views: BranchView[] = [];
  for (const stage of tx.stages) {
    for (const i of stage.branches) {
      const b = tx.branches[i];
      const step = tx.steps[i];
      if (!b || !step) continue;
      const p = stage.atomic?.participants.find((q) => q.branches.includes(i));
      // An atomic branch's own step starts with its compensation; before, its group tells.
      const own = !stage.atomic || step.status === "compensating" || step.status === "compensated";
      // An action that failed applied nothing: it reads as failed while its (no-op) compensation runs, and after.
      const failed = step.status !== "pending" ? step.actionFailed : undefined;
      const reason =
        failed ??
        (step.status !== "pending" ? step.reason : undefined) ??
        blamed(p, i) ??
        (tx.failedBranch === i ? tx.reason : undefined);
      const attempts = own ? (step.status === "pending" ? undefined : step.attempts) : p?.attempts;
      views[i] = {
        participant: b.participant,
        action: b.action,
        state: failed !== undefined ? "failed" : own ? step.status : preparedState(stage.atomic?.decision, p),
        ...(p?.vote !== undefined ? { vote: p.vote } : {}),
        ...(reason !== undefined ? { reason } : {}),
        stage: stage.stage,
        ...(stage.atomic ? { atomic: true as const } : {}),
        ...(attempts !== undefined ? { attempts } : {}),
      };
    }
  }
  return views;
}

const iso = (ms: number) => new Date(ms).toISOString();

export function toView(tx: TxRecord): TransactionView {
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
    branches: tx.protocol === "2pc" ? twoPcBranches(tx) : sagaBranches(tx),
    events: tx.events.map((e) => ({ ...e, at: iso(e.at) })),
    ...(tx.eventsDropped > 0 ? { eventsDropped: tx.eventsDropped } : {}),
  };
}
