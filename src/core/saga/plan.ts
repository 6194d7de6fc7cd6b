/** A saga request's branches as ordered stages, and the rules the request must follow. Pure. */
import { groupByParticipant } from "../atomic-group.ts";
import type { BranchSpec, SagaStage } from "../transaction.ts";

export interface PlanIssue {
  /** Where in the request: `["branches", 2, "stage"]`, `["atomicStages", 0]`. */
  readonly path: readonly (string | number)[];
  readonly message: string;
}

export type Plan =
  | { readonly ok: true; readonly stages: readonly SagaStage[] }
  | { readonly ok: false; readonly issues: readonly PlanIssue[] };

/** Without `stage`, a branch is a stage of its own: they run one after another in list order. */
export const stageNumberOf = (branch: BranchSpec, index: number): number => branch.stage ?? index;

/**
 * Checks the rules a saga request must follow and orders its stages. A
 * participant may be in one atomic stage only: its 2PC barrier is keyed by the
 * transaction, so two groups would share it.
 */
export function planStages(branches: readonly BranchSpec[], atomicStages: readonly number[]): Plan {
  const issues: PlanIssue[] = [];
  const staged = branches.filter((b) => b.stage !== undefined).length;
  branches.forEach((b, i) => {
    if (staged > 0 && b.stage === undefined) {
      issues.push({
        path: ["branches", i, "stage"],
        message: "either every branch of a saga has a stage or none has",
      });
    }
    if (b.compensation === undefined) {
      issues.push({
        path: ["branches", i, "compensation"],
        message: "every saga branch needs a compensation",
      });
    }
  });
  const byStage = new Map<number, number[]>();
  branches.forEach((b, i) => {
    const n = stageNumberOf(b, i);
    byStage.set(n, [...(byStage.get(n) ?? []), i]);
  });
  const atomic = new Set<number>();
  const atomicStageOf = new Map<string, number>();
  for (const [j, n] of atomicStages.entries()) {
    const path = ["atomicStages", j];
    const members = byStage.get(n);
    if (atomic.has(n) || !members) {
      issues.push({ path, message: members ? `stage ${n} is listed twice` : `no branch is in stage ${n}` });
      continue;
    }
    atomic.add(n);
    for (const i of members) {
      const name = branches[i]?.participant ?? "";
      const other = atomicStageOf.get(name);
      if (other !== undefined && other !== n) {
        issues.push({
          path,
          message: `participant "${name}" is in atomic stages ${other} and ${n}; it may be in one atomic stage of a saga`,
        });
      }
      atomicStageOf.set(name, other ?? n);
    }
  }
  if (issues.length > 0) return { ok: false, issues };
  const stages = [...byStage]
    .sort(([a], [b]) => a - b)
    .map(([stage, members]): SagaStage => {
      if (!atomic.has(stage)) return { stage, branches: members };
      const participants = groupByParticipant(branches, members).map((p) => ({ ...p, attempts: 0 }));
      return { stage, branches: members, atomic: { participants } };
    });
  return { ok: true, stages };
}

/** The request broke a rule `planStages` checks: the caller skipped validation. */
export class InvalidSagaError extends Error {
  override name = "InvalidSagaError";
  constructor(readonly issues: readonly PlanIssue[]) {
    super(`invalid saga: ${issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  }
}
