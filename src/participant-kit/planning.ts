/**
 * Pure planning: from the branches one message asks of a participant and the
 * resources as read, the resources to lock and their new states, or a no with
 * the reason and the branch that failed. The same plan serves a 2PC PREPARE
 * (all of a participant's branches), a saga action and a compensation (one).
 */
import type { PlannedResource } from "./barriers.ts";
import { ModelContractError } from "./errors.ts";
import { isHeld } from "./escrow.ts";
import type { LockMode } from "./lock-mode.ts";
import {
  type Action,
  actionOf,
  type DeclaredMoves,
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
      /** The holder's attempt that took the lock (absent: the first). */
      readonly holderAttempt?: number;
      /** The locked resource, where a waiter registers to be woken. */
      readonly lockedResource?: string;
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

/** What an action sees of a quantity: the committed value less what is reserved on it. */
function availableView<S extends ResourceState>(model: ResourceModel<S>, read: Resource<S>): S | undefined {
  if (read.state === undefined || read.holds === undefined) return read.state;
  const state: Record<string, string | number | boolean> = { ...read.state };
  for (const [field, hold] of Object.entries(read.holds)) {
    if (field in model.quantities) state[field] = Number(state[field] ?? 0) - hold.reserved;
  }
  return state as S;
}

/**
 * The net change per quantity field from `before` to `after`, when nothing else
 * changed and something did; otherwise undefined (the resource must be locked).
 */
function quantityMoves<S extends ResourceState>(
  model: ResourceModel<S>,
  before: S | undefined,
  after: S | undefined,
): Record<string, number> | undefined {
  if (before === undefined || after === undefined) return undefined;
  const moves: Record<string, number> = {};
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const [b, a] = [before[key], after[key]];
    if (key in model.quantities && typeof a === "number" && typeof b === "number") {
      if (a !== b) moves[key] = a - b;
    } else if (a !== b) return undefined;
  }
  return Object.keys(moves).length > 0 ? moves : undefined;
}

/**
 * What `action` declares it moves for this input (see ActionSpec.moves), zero
 * amounts left out; undefined when it declares nothing for it. A declaration
 * that names a resource the action does not touch, a field that is not a
 * quantity, or an amount that is not a safe integer breaks the model's contract.
 */
function declaredOf<S extends ResourceState>(
  model: ResourceModel<S>,
  name: string,
  action: Action<S>,
  parsed: NonNullable<Parsed>,
): DeclaredMoves | undefined {
  const declared = action.moves?.(parsed.input);
  if (declared === undefined) return undefined;
  const out: Record<string, Record<string, number>> = {};
  for (const [id, fields] of Object.entries(declared)) {
    if (!parsed.ids.includes(id)) {
      throw new ModelContractError(`${model.kind}.${name} declared moves on ${id}, not in touches`);
    }
    for (const [field, delta] of Object.entries(fields)) {
      if (!(field in model.quantities) || !Number.isSafeInteger(delta)) {
        throw new ModelContractError(`${model.kind}.${name} declared a move of ${field} on ${id}: ${delta}`);
      }
      if (delta !== 0) out[id] = { ...out[id], [field]: delta };
    }
  }
  return out;
}

/** Whether `moves` fit `state` as an action sees it (what is available): the model's own rule for them. */
function fitsView(state: ResourceState | undefined, moves: Readonly<Record<string, number>>): boolean {
  if (state === undefined) return false;
  return Object.entries(moves).every(([field, delta]) => {
    const next = Number(state[field] ?? 0) + delta;
    return next >= 0 && next <= Number.MAX_SAFE_INTEGER;
  });
}

/**
 * Holds an action to its declared moves, on the states it was judged against
 * (`before`) and left (`after`): accepted, every touched resource changed by
 * exactly its declared moves; refused, some declared move did not fit.
 */
function checkDeclared<S extends ResourceState>(
  model: ResourceModel<S>,
  name: string,
  declared: DeclaredMoves,
  ids: readonly string[],
  before: ReadonlyMap<string, S | undefined>,
  after: ((id: string) => S | undefined) | undefined,
): void {
  const where = `${model.kind}.${name}`;
  if (after === undefined) {
    const fit =
      ids.every((id) => before.get(id) !== undefined) &&
      Object.entries(declared).every(([id, moves]) => fitsView(before.get(id), moves));
    if (fit) throw new ModelContractError(`${where} refused though its declared moves fit`);
    return;
  }
  for (const id of new Set(ids)) {
    const [b, a] = [before.get(id), after(id)];
    const moves = declared[id] ?? {};
    if (b === undefined) {
      if (a !== undefined || Object.keys(moves).length > 0) {
        throw new ModelContractError(`${where} accepted moves on ${id}, which does not exist`);
      }
      continue;
    }
    const expected: Record<string, string | number | boolean> = { ...b };
    for (const [field, delta] of Object.entries(moves)) expected[field] = Number(b[field] ?? 0) + delta;
    const keys = new Set([...Object.keys(expected), ...Object.keys(a ?? {})]);
    if (a === undefined || [...keys].some((k) => expected[k] !== a[k])) {
      throw new ModelContractError(`${where} changed ${id} otherwise than its declared moves`);
    }
  }
}

/**
 * A PREPARE's plan from its branches alone, without reading (the blind
 * prepare): every resource held by the sum of the moves the branches declare.
 * Undefined where the read is needed to plan: not escrow, a branch that does
 * not parse, must see a stable value or declares no moves for its input, a
 * touched resource without a move (it would be locked), a field that one
 * branch debits and another credits (the order they are judged in then
 * matters: a debit may fit only after a credit), or too many resources.
 *
 * Of the same sign, the moves fit together exactly when each fits after the
 * ones before it, so the store's conditions on the sum (each resource exists,
 * is unlocked, every debit covered by what is available, no credit past a safe
 * integer) accept exactly what planGroup would. `version` is 0: nothing was
 * read, and a held move's version is checked by nothing.
 */
export function declaredPlan<S extends ResourceState>(
  model: ResourceModel<S>,
  branches: readonly BranchRequest[],
  mode: LockMode = "escrow",
): PlannedResource<S>[] | undefined {
  if (mode !== "escrow" || Object.keys(model.quantities).length === 0) return undefined;
  const held = new Map<string, Record<string, number>>();
  for (const branch of branches) {
    const parsed = parse(model, branch);
    const action = actionOf(model, branch.action);
    if (!parsed || !action || action.stable?.(parsed.input) === true) return undefined;
    const declared = declaredOf(model, branch.action, action, parsed);
    if (declared === undefined) return undefined;
    for (const id of new Set(parsed.ids)) {
      const own = declared[id];
      if (own === undefined) return undefined;
      const sum = held.get(id) ?? {};
      for (const [field, delta] of Object.entries(own)) {
        const soFar = sum[field] ?? 0;
        if (soFar * delta < 0 || !Number.isSafeInteger(soFar + delta)) return undefined;
        sum[field] = soFar + delta;
      }
      held.set(id, sum);
    }
  }
  if (held.size === 0 || held.size > MAX_RESOURCES_PER_WRITE) return undefined;
  return [...held].map(([id, moves]) => ({ id, version: 0, moves }));
}

/**
 * Applies the branches in order, each against the states the earlier ones left
 * (so a withdraw-then-deposit on one account is judged as a client reads it).
 * An action sees each quantity as what is available: the value less what other
 * transactions reserved on it.
 *
 * A branch that touches a resource locked by another transaction stops the plan
 * with `lock_conflict` before its action is judged: state under someone else's
 * lock is not settled yet. Every touched resource is planned, written or not,
 * so a PREPARE holds what it read and a saga step checks what it writes against.
 *
 * In `escrow` mode a resource whose only change is to quantity fields, and that
 * no branch needs stable (`stable`), is planned as `moves`: reserved, not
 * locked. Any other resource is locked at its version, which needs it free of
 * reservations too (`lock_conflict` with no holder to wait for otherwise).
 *
 * `lockOwner` is the transaction whose own locks do not conflict: a PREPARE's.
 * A saga step owns no lock (it writes only unlocked resources), so it passes none.
 */
export function planGroup<S extends ResourceState>(
  model: ResourceModel<S>,
  branches: readonly BranchRequest[],
  resources: ReadonlyMap<string, Resource<S>>,
  lockOwner: string | undefined,
  mode: LockMode = "escrow",
): GroupPlan<S> {
  const working = new Map<string, { state?: S; readonly before?: S; readonly version: number }>();
  const changed = new Set<string>();
  const stable = new Set<string>();
  /** The last branch that touched each resource: the one a refusal found after the loop names. */
  const lastBranch = new Map<string, number>();
  const escrow = mode === "escrow" && Object.keys(model.quantities).length > 0;
  for (const branch of branches) {
    const no = (reason: string, holder?: Resource<S>): GroupPlan<S> => ({
      vote: "no",
      reason,
      failedBranch: branch.index,
      ...(holder?.lockedBy !== undefined ? { holder: holder.lockedBy, lockedResource: holder.id } : {}),
      ...(holder?.lockedByStartedAt !== undefined ? { holderStartedAt: holder.lockedByStartedAt } : {}),
      ...(holder?.lockedByAttempt !== undefined ? { holderAttempt: holder.lockedByAttempt } : {}),
    });
    const parsed = parse(model, branch);
    const action = actionOf(model, branch.action);
    if (!parsed || !action) return no("invalid_input");
    const pinned = action.stable?.(parsed.input) === true;
    for (const id of parsed.ids) {
      const read = resources.get(id);
      if (read?.lockedBy !== undefined && read.lockedBy !== lockOwner) return no("lock_conflict", read);
      if (pinned) stable.add(id);
      lastBranch.set(id, branch.index);
      if (!working.has(id)) {
        const seen = read ? availableView(model, read) : undefined;
        working.set(id, {
          version: read?.version ?? 0,
          ...(seen !== undefined ? { state: seen, before: seen } : {}),
        });
      }
    }
    const declared = declaredOf(model, branch.action, action, parsed);
    const judgedOn = new Map(parsed.ids.map((id) => [id, working.get(id)?.state]));
    const outcome = action.apply(parsed.input, {
      get(id): ResourceSnapshot<S> {
        const snapshot = parsed.ids.includes(id) ? working.get(id) : undefined;
        if (!snapshot)
          throw new ModelContractError(`${model.kind}.${branch.action} read ${id}, not in touches`);
        return snapshot;
      },
    });
    if (!outcome.ok) {
      // A refusal the declared moves would not have made: a blind prepare would have held them.
      if (declared) checkDeclared(model, branch.action, declared, parsed.ids, judgedOn, undefined);
      return no(outcome.reason);
    }
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
    if (declared) {
      checkDeclared(model, branch.action, declared, parsed.ids, judgedOn, (id) => working.get(id)?.state);
    }
  }
  if (working.size > MAX_RESOURCES_PER_WRITE) {
    return { vote: "no", reason: "too_many_resources", failedBranch: branches[0]?.index ?? 0 };
  }
  const planned: PlannedResource<S>[] = [];
  for (const [id, { version, state, before }] of working) {
    const read = resources.get(id);
    const failedBranch = lastBranch.get(id) ?? branches[0]?.index ?? 0;
    const moves =
      escrow && !stable.has(id) && changed.has(id) ? quantityMoves(model, before, state) : undefined;
    if (moves !== undefined) {
      // Credits are bounded by the value plus every pending credit: no order of commits overflows.
      for (const [field, delta] of Object.entries(moves)) {
        const value = Number(read?.state?.[field] ?? 0) + (read?.holds?.[field]?.pending ?? 0);
        const words = model.quantities[field];
        if (delta > 0 && value + delta > Number.MAX_SAFE_INTEGER && words) {
          return { vote: "no", reason: words.overflow, failedBranch };
        }
      }
      planned.push({ id, version, moves });
      continue;
    }
    // A lock needs the resource free of reservations: their commits would change it under the lock.
    if (isHeld(read?.holds)) return { vote: "no", reason: "lock_conflict", failedBranch };
    planned.push({ id, version, ...(changed.has(id) && state !== undefined ? { next: state } : {}) });
  }
  return { vote: "yes", planned };
}
