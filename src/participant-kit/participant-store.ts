/**
 * The participant kit's persistence port. Each write is ONE atomic operation
 * (a conditional PutItem/UpdateItem or one TransactWriteItems) whose
 * preconditions are stated here; a failed precondition writes nothing and
 * raises a named error (BarrierConflictError, ResourceLockedError). The
 * DynamoDB adapter and the in-memory store pass the same contract suite.
 */
import type { Alongside } from "../ports/alongside.ts";
import type { Barrier, PlannedResource, StepBarrier } from "./barriers.ts";
import type { Resource, ResourceState } from "./resource-model.ts";

/** The step barrier a write replaces, as read: its state and its incarnation. */
export type StepFrom = Pick<StepBarrier, "state" | "txStartedAt">;

export interface ParticipantStore<S extends ResourceState> {
  getResource(participant: string, id: string): Promise<Resource<S> | undefined>;
  /** Creates or resets a resource; requires it unlocked. Bumps the version. Throws ResourceLockedError. */
  putResource(participant: string, id: string, state: S): Promise<Resource<S>>;

  getBarrier(participant: string, txId: string): Promise<Barrier<S> | undefined>;
  getStep(participant: string, txId: string, branch: number): Promise<StepBarrier | undefined>;

  /** The 2PC barrier (if any) and the resources a PREPARE touches that exist, read together. */
  loadForPrepare(
    participant: string,
    txId: string,
    ids: readonly string[],
  ): Promise<{ barrier?: Barrier<S>; resources: Map<string, Resource<S>> }>;
  /**
   * The step barrier (if any), the 2PC barrier when `withBarrier` (an atomic
   * stage's compensation asks whether its 2PC committed), and the resources, read together.
   */
  loadForStep(
    participant: string,
    txId: string,
    branch: number,
    ids: readonly string[],
    withBarrier: boolean,
  ): Promise<{ step?: StepBarrier; barrier?: Barrier<S>; resources: Map<string, Resource<S>> }>;

  /**
   * Barrier `prepared` + every planned resource locked (a resource at version 0
   * gets a locked placeholder). Requires no barrier (or, for a later attempt, one
   * of an earlier attempt that holds nothing: rolled_back or refused), and every
   * resource unlocked at its planned version.
   */
  prepare(barrier: Barrier<S>, now: number): Promise<void>;
  /**
   * One-phase commit: barrier `committed` (expiring a retention from now) and
   * every planned resource set as `commit` would set it, in one write. Requires
   * no barrier (or, for a later attempt, one of an earlier attempt that holds
   * nothing), and every planned resource available as a PREPARE would need it
   * (unlocked at its planned version, absent for version 0; a move's debits
   * covered). Planned resources without `next` are checked, not written.
   */
  commitOnePhase(barrier: Barrier<S>, now: number): Promise<void>;
  /** Barrier `refused`; requires no barrier, or one of an earlier attempt that holds nothing. */
  refuse(barrier: Barrier<S>): Promise<void>;
  /**
   * Sets each planned resource to its `next` state (version + 1) and unlocks it;
   * drops placeholders that were only read. Requires the stored barrier
   * `prepared` for `barrier`'s incarnation (`txStartedAt`) and attempt, and
   * every lock held by it at the planned version: `barrier` may be a copy kept
   * since the PREPARE, never read back, so the condition is what makes it safe.
   * The committed barrier expires a retention from now, unless it is an atomic
   * stage's (`keptUntilFinished`).
   */
  commit(barrier: Barrier<S>, now: number): Promise<void>;
  /**
   * What `commit` writes, under the same conditions, as a part of the write of
   * the decision this participant's vote makes (ports/alongside.ts): written
   * with the record's update by the transaction store of the same backend.
   * Optional: a store without it commits on its own, on the COMMIT.
   */
  commitAlongside?(barrier: Barrier<S>, now: number): Alongside;
  /**
   * What `prepare` and `commitOnePhase` write, under the same conditions, as a
   * part of the write that records this participant's vote (`OwnPrepare` in
   * ports/alongside.ts). Optional, both or neither: a store without them
   * prepares on its own and then votes.
   */
  prepareAlongside?(barrier: Barrier<S>, now: number): Alongside;
  commitOnePhaseAlongside?(barrier: Barrier<S>, now: number): Alongside;
  /**
   * Unlocks without applying (drops placeholders); requires what `commit` does:
   * the barrier `prepared` for this incarnation and attempt, and the locks its.
   */
  rollback(barrier: Barrier<S>, now: number): Promise<void>;
  /**
   * Writes a `rolled_back` barrier where none exists (or over one of an earlier
   * attempt that holds nothing), so a late PREPARE refuses; `txStartedAt` is the
   * incarnation the ROLLBACK named, when it named one, `attempt` its attempt.
   */
  rollbackUnprepared(
    participant: string,
    txId: string,
    now: number,
    txStartedAt?: number,
    attempt?: number,
  ): Promise<void>;

  /**
   * Registers `waiter` (started `startedAt`) to be woken when `holder` releases
   * resource `id`. Requires the resource locked by `holder`: false, and nothing
   * written, when it is not any more (the PREPARE then looks again), so a
   * release can never slip between the look and the registration.
   */
  addWaiter(
    participant: string,
    id: string,
    holder: string,
    waiter: { readonly txId: string; readonly startedAt: number },
  ): Promise<boolean>;
  /**
   * After `holder` released `ids`: the transactions registered as waiting for it
   * there, each taken off the list (only if it still waits for `holder`: one
   * that registered anew for a later holder stays). Oldest first.
   */
  takeWaiters(participant: string, ids: readonly string[], holder: string): Promise<string[]>;
  /** Prepared barriers older than `before`: transactions this participant may be in doubt about. */
  preparedBefore(participant: string, before: number, limit: number): Promise<Barrier<S>[]>;

  /**
   * The saga (incarnation `txStartedAt`) is final: gives the barriers kept until
   * then (`keptUntilFinished`: the `done` step barriers of `branches`, a committed
   * atomic-stage 2PC barrier) their expiry, now + retention. Barriers of another
   * incarnation, barriers that already expire, and absent ones are left as they
   * are, so a repeated call changes nothing.
   */
  finish(
    participant: string,
    txId: string,
    txStartedAt: number,
    branches: readonly number[],
    now: number,
  ): Promise<void>;

  /**
   * Writes the step barrier `step` and the planned resources' new states, as one.
   * Requires the step barrier absent (`from` undefined) or the one read: in state
   * `from.state` and of incarnation `from.txStartedAt` (a compensation may write
   * over an earlier transaction's barrier under a reused id, and two copies of it
   * must not both do so); and every planned resource unlocked at its planned
   * version (absent for version 0). Planned resources without `next` are
   * checked, not written. A `done` step barrier is written without expiry
   * (`keptUntilFinished`), any other state with now + retention.
   */
  writeStep(
    step: StepBarrier,
    from: StepFrom | undefined,
    planned: readonly PlannedResource<S>[],
    now: number,
  ): Promise<void>;
}
