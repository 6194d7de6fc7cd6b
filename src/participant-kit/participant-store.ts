/**
 * The participant kit's persistence port. Each write is ONE atomic operation
 * (a conditional PutItem/UpdateItem or one TransactWriteItems) whose
 * preconditions are stated here; a failed precondition writes nothing and
 * raises a named error (BarrierConflictError, ResourceLockedError). The
 * DynamoDB adapter and the in-memory store pass the same contract suite.
 */
import type { Barrier, PlannedResource, StepBarrier, StepState } from "./barriers.ts";
import type { Resource, ResourceState } from "./resource-model.ts";

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
   * gets a locked placeholder). Requires no barrier, and every resource unlocked
   * at its planned version.
   */
  prepare(barrier: Barrier<S>, now: number): Promise<void>;
  /** Barrier `refused`; requires no barrier. */
  refuse(barrier: Barrier<S>): Promise<void>;
  /**
   * Sets each planned resource to its `next` state (version + 1) and unlocks it;
   * drops placeholders that were only read. Requires the barrier `prepared` and
   * every lock held by it at the planned version.
   */
  commit(barrier: Barrier<S>, now: number): Promise<void>;
  /** Unlocks without applying (drops placeholders); requires the barrier `prepared` and the locks its. */
  rollback(barrier: Barrier<S>, now: number): Promise<void>;
  /** Writes a `rolled_back` barrier where none exists, so a late PREPARE refuses. */
  rollbackUnprepared(participant: string, txId: string, now: number): Promise<void>;
  /** Prepared barriers older than `before`: transactions this participant may be in doubt about. */
  preparedBefore(participant: string, before: number, limit: number): Promise<Barrier<S>[]>;

  /**
   * Writes the step barrier `step` and the planned resources' new states, as one.
   * Requires the step barrier absent (`from` undefined) or in state `from`, and
   * every planned resource unlocked at its planned version (absent for version
   * 0). Planned resources without `next` are checked, not written.
   */
  writeStep(
    step: StepBarrier,
    from: StepState | undefined,
    planned: readonly PlannedResource<S>[],
    now: number,
  ): Promise<void>;
}
