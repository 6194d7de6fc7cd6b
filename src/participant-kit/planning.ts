/**
 * Pure planning: from the branches one message asks of a participant and the
 * resources as read, the resources to lock and their new states, or a no with
 * the reason and the branch that failed. The same plan serves a 2PC PREPARE
 * (all of a participant's branches), a saga action and a compensation (one).
 */
import type { PlannedResource } from "./barriers.ts";
import { ModelContractError } from "./errors.ts";
import {
  actionOf,
  MAX_RESOURCES_PER_WRITE,
  type Resource,
  type ResourceModel,
  type ResourceSnapshot,
  type ResourceState,
} from "./resource-model.ts";

export interface BranchRequest {
  /** The branch's index in the transaction. */
  readonly index: number;
  readonly action: string;
  readonly input: unknown;
}

export type GroupPlan<S extends ResourceState> =
  | { readonly vote: "yes"; readonly planned: readonly PlannedResource<S>[] }
  | {
      readonly vote: "no";
      readonly reason: string;
      readonly failedBranch: number;
      /** The transaction holding the lock, and when it started, for lock conflicts. */
      readonly holder?: string;
      readonly holderStartedAt?: number;
    };

type Parsed = { readonly ids: readonly string[]; readonly input: unknown } | undefined;

function parse<S extends ResourceState>(model: ResourceModel<S>, branch: BranchRequest): Parsed {
  const action = actionOf(model, branch.action);
  const parsed = action?.input.safeParse(branch.input);
  if (!action || !parsed?.success) return undefined;
  return { ids: action.touches(parsed.data), input: parsed.data };
}

/** Every resource the branches touch, in first-use order; branches that do not parse are skipped. */
export function touchedBy<S extends ResourceState>(
  model: ResourceModel<S>,
  branches: readonly BranchRequest[],
): string[] {
  const seen = new Set<string>();
  for (const branch of branches) for (const id of parse(model, branch)?.ids ?? []) seen.add(id);
  return [...seen];
}

/**
 * Applies the branches in order, each against the states the earlier ones left
 * (so a withdraw-then-deposit on one account is judged as a client reads it).
 * A branch that touches a resource locked by another transaction stops the plan
 * with `lock_conflict` before its action is judged: state under someone else's
 * lock is not settled yet. Every touched resource is planned, written or not,
 * so a PREPARE locks what it read and a saga step checks its version.
 *
 * `lockOwner` is the transaction whose own locks do not conflict: a PREPARE's.
 * A saga step owns no lock (it writes only unlocked resources), so it passes none.
 */
export function planGroup<S extends ResourceState>(
  model: ResourceModel<S>,
  branches: readonly BranchRequest[],
  resources: ReadonlyMap<string, Resource<S>>,
  lockOwner: string | undefined,
): GroupPlan<S> {
  const working = new Map<string, { state?: S; version: number }>();
  const changed = new Set<string>();
  for (const branch of branches) {
    const no = (reason: string, holder?: Resource<S>): GroupPlan<S> => ({
      vote: "no",
      reason,
      failedBranch: branch.index,
      ...(holder?.lockedBy !== undefined ? { holder: holder.lockedBy } : {}),
      ...(holder?.lockedByStartedAt !== undefined ? { holderStartedAt: holder.lockedByStartedAt } : {}),
    });
    const parsed = parse(model, branch);
    const action = actionOf(model, branch.action);
    if (!parsed || !action) return no("invalid_input");
    for (const id of parsed.ids) {
      const read = resources.get(id);
      if (read?.lockedBy !== undefined && read.lockedBy !== lockOwner) return no("lock_conflict", read);
      if (!working.has(id)) {
        working.set(id, {
          version: read?.version ?? 0,
          ...(read?.state !== undefined ? { state: read.state } : {}),
        });
      }
    }
    const outcome = action.apply(parsed.input, {
      get(id): ResourceSnapshot<S> {
        const snapshot = parsed.ids.includes(id) ? working.get(id) : undefined;
        if (!snapshot)
          throw new ModelContractError(`${model.kind}.${branch.action} read ${id}, not in touches`);
        return snapshot;
      },
    });
    if (!outcome.ok) return no(outcome.reason);
    for (const { id, state } of outcome.set) {
      const snapshot = parsed.ids.includes(id) ? working.get(id) : undefined;
      if (!snapshot)
        throw new ModelContractError(`${model.kind}.${branch.action} wrote ${id}, not in touches`);
      const valid = model.state.safeParse(state);
      if (!valid.success) {
        throw new ModelContractError(
          `${model.kind}.${branch.action} produced an invalid state for ${id}: ${valid.error.message}`,
        );
      }
      snapshot.state = valid.data;
      changed.add(id);
    }
  }
  if (working.size > MAX_RESOURCES_PER_WRITE) {
    return { vote: "no", reason: "too_many_resources", failedBranch: branches[0]?.index ?? 0 };
  }
  return {
    vote: "yes",
    planned: [...working].map(([id, { version, state }]) => ({
      id,
      version,
      ...(changed.has(id) && state !== undefined ? { next: state } : {}),
    })),
  };
}
