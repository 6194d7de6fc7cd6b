/**
 * A ParticipantStore in memory with the DynamoDB adapter's conditional
 * semantics: each method checks every precondition first and then applies all
 * of its writes, or none (as one TransactWriteItems would), raising the same
 * named errors. It passes the same contract suite as the DynamoDB store, so a
 * team can unit-test its participant with it, and the simulation runs on it.
 */
import { oldestFirst } from "../../src/core/lock-policy.ts";
import { attemptOf } from "../../src/core/transaction.ts";
import {
  type Barrier,
  keptUntilFinished,
  type PlannedResource,
  type StepBarrier,
} from "../../src/participant-kit/barriers.ts";
import {
  BarrierConflictError,
  ResourceLockedError,
  ResourceReservedError,
} from "../../src/participant-kit/errors.ts";
import { applyMoves, fits, isHeld, shiftHolds } from "../../src/participant-kit/escrow.ts";
import type { ParticipantStore, StepFrom } from "../../src/participant-kit/participant-store.ts";
import type { Resource, ResourceModel, ResourceState } from "../../src/participant-kit/resource-model.ts";
import { memoryAlongside } from "./memory-alongside.ts";

export interface StoredResource<S extends ResourceState> extends Resource<S> {
  readonly participant: string;
}

export interface MemoryParticipantStore<S extends ResourceState> extends ParticipantStore<S> {
  /** Every resource (placeholders included), barrier and step barrier, for invariant checks. */
  resources(): StoredResource<S>[];
  barriers(): Barrier<S>[];
  steps(): StepBarrier[];
  /** Every registered waiter: the resource, the waiting transaction and the holder it waits for. */
  waiters(): { participant: string; id: string; txId: string; holder: string }[];
  /**
   * DynamoDB's TTL: deletes the barriers and step barriers whose `expiresAt` is
   * at or before `now` (it deletes late, never early: pass an earlier time to model its lag).
   */
  expire(now: number): void;
}

export interface MemoryParticipantStoreOptions {
  /** How long a settled barrier is kept (as CONCORD_RETENTION_SECONDS); 15 days by default. */
  readonly retentionSeconds?: number;
}

interface StoredBarrier<S extends ResourceState> {
  readonly barrier: Barrier<S>;
}

const key = (...parts: (string | number)[]) => parts.join("#");

function unlocked<S extends ResourceState>(r: StoredResource<S>): StoredResource<S> {
  const { lockedBy: _b, lockedAt: _a, lockedByStartedAt: _s, lockedByAttempt: _n, ...rest } = r;
  return rest;
}

/** The resource with `holds` in place of its own (none when undefined). */
function held<S extends ResourceState>(
  r: StoredResource<S>,
  holds: StoredResource<S>["holds"],
): StoredResource<S> {
  const { holds: _h, ...rest } = r;
  return holds !== undefined ? { ...rest, holds } : rest;
}

export function createMemoryParticipantStore<S extends ResourceState>(
  model: ResourceModel<S>,
  options: MemoryParticipantStoreOptions = {},
): MemoryParticipantStore<S> {
  const retentionSeconds = options.retentionSeconds ?? 15 * 86_400;
  // Rounded up: an item is kept at least the retention (DynamoDB TTL counts in whole seconds).
  const expiry = (now: number) => Math.ceil(now / 1000) + retentionSeconds;
  /** The item as written, with its expiry unless it is kept until its saga is finished. */
  const expiring = <T extends { readonly expiresAt?: number }>(item: T, kept: boolean, now: number): T => {
    const { expiresAt: _e, ...rest } = item;
    return (kept ? rest : { ...rest, expiresAt: expiry(now) }) as T;
  };
  const resources = new Map<string, StoredResource<S>>();
  const barriers = new Map<string, StoredBarrier<S>>();
  const steps = new Map<string, StepBarrier>();
  /** The prepared index: barrier key → preparedAt, in the order they were prepared. */
  const prepared = new Map<string, number>();
  /** Waiters per resource key: waiting transaction → the holder it waits for and its start. */
  const waiting = new Map<string, Map<string, { holder: string; startedAt: number }>>();
  const resourceKey = (participant: string, id: string) => key(model.kind, participant, id);

  const copy = <T extends object>(value: T): T => structuredClone(value);
  const resourceOut = (r: StoredResource<S>): Resource<S> => {
    const { participant: _p, ...rest } = copy(r);
    return rest;
  };

  /**
   * A lock: the resource is unlocked at the planned version, free of holds
   * (absent counts as version 0). Moves: it exists, is unlocked, and the moves fit.
   */
  function available(participant: string, planned: PlannedResource<S>): boolean {
    const r = resources.get(resourceKey(participant, planned.id));
    if (planned.moves !== undefined) {
      return r?.lockedBy === undefined && r?.state !== undefined && fits(r.state, r.holds, planned.moves);
    }
    return r === undefined
      ? planned.version === 0
      : r.version === planned.version && r.lockedBy === undefined && !isHeld(r.holds);
  }

  /** Takes (1) or releases (-1) the holds of planned moves. */
  function hold(
    participant: string,
    moves: NonNullable<PlannedResource<S>["moves"]>,
    id: string,
    sign: 1 | -1,
  ) {
    const k = resourceKey(participant, id);
    const r = resources.get(k) as StoredResource<S>;
    resources.set(k, held(r, shiftHolds(r.holds, moves, sign)));
  }

  /** Applies planned moves to the value (version + 1), releasing their holds when they were held. */
  function move(participant: string, planned: PlannedResource<S>, wasHeld: boolean): void {
    const moves = planned.moves ?? {};
    const k = resourceKey(participant, planned.id);
    const r = resources.get(k) as StoredResource<S>;
    const holds = wasHeld ? shiftHolds(r.holds, moves, -1) : r.holds;
    resources.set(k, {
      ...held(r, holds),
      state: applyMoves(r.state as S, moves),
      version: r.version + 1,
    });
  }

  /**
   * The barrier is `prepared` for this incarnation and attempt (as DynamoDB's
   * condition), and holds every planned lock at its version.
   */
  function checkDecision(barrier: Barrier<S>): void {
    const stored = barriers.get(key(barrier.participant, barrier.txId))?.barrier;
    if (
      stored?.state !== "prepared" ||
      stored.txStartedAt !== barrier.txStartedAt ||
      attemptOf(stored) !== attemptOf(barrier)
    ) {
      throw new BarrierConflictError(barrier.txId, true);
    }
    for (const p of barrier.planned) {
      // A move's hold was taken with the barrier and goes only with it: the barrier's state is its proof.
      if (p.moves !== undefined) continue;
      const r = resources.get(resourceKey(barrier.participant, p.id));
      if (r?.lockedBy !== barrier.txId || r.version !== p.version) {
        throw new BarrierConflictError(barrier.txId, false);
      }
    }
  }

  /** A commit's effect, once `checkDecision` passed: the barrier settled, each planned resource applied or released. */
  function applyCommit(barrier: Barrier<S>, now: number): void {
    settle(barrier, "committed", now);
    for (const p of barrier.planned) {
      const k = resourceKey(barrier.participant, p.id);
      if (p.moves !== undefined) move(barrier.participant, p, true);
      else if (p.next !== undefined) write(barrier.participant, p, p.next);
      else if (p.version === 0) resources.delete(k);
      else resources.set(k, unlocked(resources.get(k) as StoredResource<S>));
    }
  }

  function settle(barrier: Barrier<S>, state: "committed" | "rolled_back", now: number): void {
    const k = key(barrier.participant, barrier.txId);
    const stored = barriers.get(k) as StoredBarrier<S>;
    const settled = { ...stored.barrier, state, decidedAt: now };
    barriers.set(k, { barrier: expiring(settled, keptUntilFinished(settled), now) });
    prepared.delete(k);
  }

  /** As DynamoDB's condition: no barrier, or (a later attempt) an earlier attempt's that holds nothing. */
  function mayWriteBarrier(barrier: Barrier<S>): boolean {
    const existing = barriers.get(key(barrier.participant, barrier.txId))?.barrier;
    if (existing === undefined) return true;
    const attempt = barrier.attempt ?? 0;
    return (
      attempt > 0 &&
      (existing.state === "rolled_back" || existing.state === "refused") &&
      (existing.attempt ?? 0) < attempt
    );
  }

  /** A barrier final when written (refused, rolled_back): it expires a retention after `now`. */
  function insertBarrier(barrier: Barrier<S>, now: number): void {
    const k = key(barrier.participant, barrier.txId);
    if (!mayWriteBarrier(barrier)) throw new BarrierConflictError(barrier.txId, true);
    barriers.set(k, { barrier: expiring(copy(barrier), false, now) });
  }

  function read(participant: string, ids: readonly string[]): Map<string, Resource<S>> {
    const found = new Map<string, Resource<S>>();
    for (const id of ids) {
      const r = resources.get(resourceKey(participant, id));
      if (r) found.set(id, resourceOut(r));
    }
    return found;
  }

  /** Sets a resource to `state` at version + 1, creating it when absent. */
  function write(participant: string, planned: PlannedResource<S>, state: S): void {
    const k = resourceKey(participant, planned.id);
    const existing = resources.get(k);
    resources.set(k, {
      ...(existing ? unlocked(existing) : {}),
      participant,
      id: planned.id,
      state: copy(state),
      version: planned.version + 1,
    });
  }

  /** What a new barrier's write requires (prepare, commitOnePhase): none there yet, every resource available. */
  function checkNew(barrier: Barrier<S>): void {
    const barrierExists = !mayWriteBarrier(barrier);
    const resourcesOk = barrier.planned.every((p) => available(barrier.participant, p));
    if (barrierExists || !resourcesOk) throw new BarrierConflictError(barrier.txId, barrierExists);
  }

  function applyPrepare(barrier: Barrier<S>, now: number): void {
    barriers.set(key(barrier.participant, barrier.txId), { barrier: copy(barrier) });
    prepared.set(key(barrier.participant, barrier.txId), now);
    for (const p of barrier.planned) {
      if (p.moves !== undefined) {
        hold(barrier.participant, p.moves, p.id, 1);
        continue;
      }
      const k = resourceKey(barrier.participant, p.id);
      const existing = resources.get(k);
      resources.set(k, {
        ...(existing ?? { participant: barrier.participant, id: p.id, version: 0 }),
        lockedBy: barrier.txId,
        lockedAt: now,
        lockedByStartedAt: barrier.txStartedAt ?? now,
        ...(barrier.attempt !== undefined ? { lockedByAttempt: barrier.attempt } : {}),
      });
    }
  }

  function applyOnePhase(barrier: Barrier<S>, now: number): void {
    insertBarrier(barrier, now);
    for (const p of barrier.planned) {
      if (p.moves !== undefined) move(barrier.participant, p, false);
      else if (p.next !== undefined) write(barrier.participant, p, p.next);
    }
  }

  return {
    async getResource(participant, id) {
      const r = resources.get(resourceKey(participant, id));
      return r ? resourceOut(r) : undefined;
    },

    async putResource(participant, id, state) {
      const k = resourceKey(participant, id);
      const existing = resources.get(k);
      if (existing?.lockedBy !== undefined) throw new ResourceLockedError(id, existing.lockedBy);
      if (isHeld(existing?.holds)) throw new ResourceReservedError(id);
      const next: StoredResource<S> = {
        participant,
        id,
        state: copy(model.state.parse(state)),
        version: (existing?.version ?? 0) + 1,
      };
      resources.set(k, next);
      return resourceOut(next);
    },

    async getBarrier(participant, txId) {
      const stored = barriers.get(key(participant, txId));
      return stored ? copy(stored.barrier) : undefined;
    },

    async getStep(participant, txId, branch) {
      const step = steps.get(key(participant, txId, branch));
      return step ? copy(step) : undefined;
    },

    async loadForPrepare(participant, txId, ids) {
      const stored = barriers.get(key(participant, txId));
      return { ...(stored ? { barrier: copy(stored.barrier) } : {}), resources: read(participant, ids) };
    },

    async loadForStep(participant, txId, branch, ids, withBarrier) {
      const step = steps.get(key(participant, txId, branch));
      const stored = withBarrier ? barriers.get(key(participant, txId)) : undefined;
      return {
        ...(step ? { step: copy(step) } : {}),
        ...(stored ? { barrier: copy(stored.barrier) } : {}),
        resources: read(participant, ids),
      };
    },

    async prepare(barrier, now) {
      checkNew(barrier);
      applyPrepare(barrier, now);
    },

    prepareAlongside: (barrier, now) =>
      memoryAlongside(
        () => checkNew(barrier),
        () => applyPrepare(barrier, now),
      ),

    async commitOnePhase(barrier, now) {
      checkNew(barrier);
      applyOnePhase(barrier, now);
    },

    commitOnePhaseAlongside: (barrier, now) =>
      memoryAlongside(
        () => checkNew(barrier),
        () => applyOnePhase(barrier, now),
      ),

    async refuse(barrier) {
      insertBarrier(barrier, barrier.createdAt);
    },

    async commit(barrier, now) {
      checkDecision(barrier);
      applyCommit(barrier, now);
    },

    commitAlongside: (barrier, now) =>
      memoryAlongside(
        () => checkDecision(barrier),
        () => applyCommit(barrier, now),
      ),

    async rollback(barrier, now) {
      checkDecision(barrier);
      settle(barrier, "rolled_back", now);
      for (const p of barrier.planned) {
        const k = resourceKey(barrier.participant, p.id);
        if (p.moves !== undefined) hold(barrier.participant, p.moves, p.id, -1);
        else if (p.version === 0) resources.delete(k);
        else resources.set(k, unlocked(resources.get(k) as StoredResource<S>));
      }
    },

    async rollbackUnprepared(participant, txId, now, txStartedAt, attempt) {
      insertBarrier(
        {
          participant,
          txId,
          state: "rolled_back",
          planned: [],
          createdAt: now,
          decidedAt: now,
          ...(txStartedAt !== undefined ? { txStartedAt } : {}),
          ...(attempt !== undefined ? { attempt } : {}),
        },
        now,
      );
    },

    async addWaiter(participant, id, holder, waiter) {
      const k = resourceKey(participant, id);
      if (resources.get(k)?.lockedBy !== holder) return false;
      const list = waiting.get(k) ?? new Map();
      list.set(waiter.txId, { holder, startedAt: waiter.startedAt });
      waiting.set(k, list);
      return true;
    },

    async takeWaiters(participant, ids, holder) {
      const found: { id: string; startedAt: number }[] = [];
      for (const id of ids) {
        const list = waiting.get(resourceKey(participant, id));
        for (const [txId, entry] of list ?? []) {
          if (entry.holder !== holder) continue;
          list?.delete(txId);
          found.push({ id: txId, startedAt: entry.startedAt });
        }
      }
      found.sort(oldestFirst);
      return [...new Set(found.map((w) => w.id))];
    },

    async finish(participant, txId, txStartedAt, branches, now) {
      const k = key(participant, txId);
      const stored = barriers.get(k)?.barrier;
      if (
        stored &&
        stored.expiresAt === undefined &&
        stored.state !== "prepared" &&
        stored.txStartedAt === txStartedAt
      ) {
        barriers.set(k, { barrier: { ...stored, expiresAt: expiry(now) } });
      }
      for (const branch of branches) {
        const sk = key(participant, txId, branch);
        const step = steps.get(sk);
        if (step && step.expiresAt === undefined && step.txStartedAt === txStartedAt) {
          steps.set(sk, { ...step, expiresAt: expiry(now) });
        }
      }
    },

    async preparedBefore(participant, before, limit) {
      const found: Barrier<S>[] = [];
      for (const [k, preparedAt] of prepared) {
        if (found.length >= limit) break;
        const { barrier } = barriers.get(k) as StoredBarrier<S>;
        if (barrier.participant === participant && preparedAt < before) found.push(copy(barrier));
      }
      return found;
    },

    async writeStep(step: StepBarrier, from: StepFrom | undefined, planned, now) {
      const k = key(step.participant, step.txId, step.branch);
      const existing = steps.get(k);
      const stepOk =
        from === undefined
          ? existing === undefined
          : existing?.state === from.state && existing.txStartedAt === from.txStartedAt;
      const resourcesOk = planned.every((p) => available(step.participant, p));
      if (!stepOk || !resourcesOk) throw new BarrierConflictError(step.txId, !stepOk);
      steps.set(k, expiring(copy(step), keptUntilFinished(step), now));
      for (const p of planned) {
        if (p.moves !== undefined) move(step.participant, p, false);
        else if (p.next !== undefined) write(step.participant, p, p.next);
      }
    },

    resources: () => [...resources.values()].map(copy),
    barriers: () => [...barriers.values()].map((s) => copy(s.barrier)),
    steps: () => [...steps.values()].map(copy),
    waiters: () =>
      [...waiting].flatMap(([k, list]) => {
        const [, participant = "", id = ""] = k.split("#");
        return [...list].map(([txId, { holder }]) => ({ participant, id, txId, holder }));
      }),

    expire(now) {
      const due = (item: { readonly expiresAt?: number }) =>
        item.expiresAt !== undefined && item.expiresAt * 1000 <= now;
      for (const [k, stored] of barriers) if (due(stored.barrier)) barriers.delete(k);
      for (const [k, step] of steps) if (due(step)) steps.delete(k);
    },
  };
}
