/**
 * A participant built from a resource model: one handler for every message the
 * coordinator sends it (2PC PREPARE/COMMIT/ROLLBACK, saga action/compensate),
 * and the scheduled in-doubt check. See docs/participants.md.
 */

import type { Logger } from "@aws-lambda-powertools/logger";
import { jitteredBackoffMs } from "../core/backoff.ts";
import type { LockPolicy } from "../core/lock-policy.ts";
import type { ParticipantMessage } from "../core/messages.ts";
import { type Crash, noCrash } from "../crash-points.ts";
import type { Metrics } from "../metrics/metrics.ts";
import type { MessageBus } from "../ports/message-bus.ts";
import { sleep as realSleep } from "../timers.ts";
import { ProtocolViolationError } from "./errors.ts";
import type { ExternalService, HolderCommits, KitDeps, OfferCommit } from "./kit-deps.ts";
import type { LockMode } from "./lock-mode.ts";
import type { ParticipantStore } from "./participant-store.ts";
import type { ResourceModel, ResourceState } from "./resource-model.ts";
import { createSagaSteps } from "./saga-steps.ts";
import { createTwoPhaseParticipant } from "./two-phase-participant.ts";

export interface ParticipantDeps<S extends ResourceState> {
  /** The participant's name: its queue (`participant-<name>`) and part of its keys. */
  readonly name: string;
  readonly model: ResourceModel<S>;
  readonly store: ParticipantStore<S>;
  readonly bus: MessageBus;
  readonly clock: () => number;
  readonly log: Logger;
  readonly lockPolicy: LockPolicy;
  /** How a PREPARE holds quantities: reservations (default) or exclusive locks. */
  readonly lockMode?: LockMode;
  /**
   * How long one delivery of a PREPARE waits in process for a lock before it
   * puts itself back on the queue (delayed) and lets the poller move on.
   */
  readonly waitBudgetMs?: number;
  /** A prepared barrier older than this asks the coordinator for the decision. */
  readonly inDoubtAfterMs?: number;
  readonly crash?: Crash;
  /**
   * Waits before re-reading after a lost race on the barrier (jittered, growing
   * with the attempt), and between lock checks within the wait budget.
   * Injectable so the deterministic simulation needs no timers.
   */
  readonly sleep?: (ms: number) => Promise<void>;
  /** An external service that must agree before a new effect is recorded (see ExternalService). */
  readonly service?: ExternalService;
  /** Lock waits are counted here. */
  readonly metrics?: Metrics;
  /**
   * Under wait-die, a PREPARE younger than the lock's holder waits instead of
   * dying when the holder is decided to commit: it takes no more locks, so no
   * cycle can close through it. Absent: every younger requester dies.
   */
  readonly holderCommits?: HolderCommits;
  /**
   * Errors that end the invocation rather than one attempt at a message (the
   * simulation's crash): never caught on the way, as a SIGKILL would not be.
   */
  readonly fatal?: (err: unknown) => boolean;
  /**
   * Offers a prepared barrier's commit to the write of the decision its yes
   * vote makes (ports/alongside.ts; src/self-delivery.ts `offerOwnCommit`).
   * Absent: the commit waits for its COMMIT.
   */
  readonly offerCommit?: OfferCommit;
  /**
   * Applies a yes vote with the prepare it stands on, in this invocation
   * (KitDeps.voteWithPrepare). Absent: it prepares, then votes.
   */
  readonly voteWithPrepare?: KitDeps<ResourceState>["voteWithPrepare"];
}

// Each retry follows a lost race with another delivery of the same transaction;
// a handful settles it, and a message that still loses returns to the queue.
const MAX_RACES = 8;

export function createParticipant<S extends ResourceState>(deps: ParticipantDeps<S>) {
  const sleep = deps.sleep ?? realSleep;
  const kit = {
    name: deps.name,
    model: deps.model,
    store: deps.store,
    bus: deps.bus,
    clock: deps.clock,
    log: deps.log,
    crash: deps.crash ?? noCrash,
    sleep,
    pause: (attempt: number) => sleep(jitteredBackoffMs(5, attempt, 1_000, Math.random)),
    maxRaces: MAX_RACES,
    lockMode: deps.lockMode ?? "escrow",
    ...(deps.service ? { service: deps.service } : {}),
    ...(deps.metrics ? { metrics: deps.metrics } : {}),
    ...(deps.holderCommits ? { holderCommits: deps.holderCommits } : {}),
    ...(deps.fatal ? { fatal: deps.fatal } : {}),
    ...(deps.offerCommit ? { offerCommit: deps.offerCommit } : {}),
    ...(deps.voteWithPrepare ? { voteWithPrepare: deps.voteWithPrepare } : {}),
  };
  const twoPhase = createTwoPhaseParticipant(kit, {
    lockPolicy: deps.lockPolicy,
    waitBudgetMs: deps.waitBudgetMs ?? 0,
    inDoubtAfterMs: deps.inDoubtAfterMs ?? 30_000,
  });
  const saga = createSagaSteps(kit);

  return {
    handle(message: ParticipantMessage): Promise<void> {
      if (message.participant !== deps.name) {
        throw new ProtocolViolationError(`message for ${message.participant} reached ${deps.name}`);
      }
      switch (message.type) {
        case "prepare":
          return twoPhase.prepare(message);
        case "commit":
        case "rollback":
          return twoPhase.decide(message);
        case "action":
          return saga.action(message);
        case "compensate":
          return saga.compensate(message);
        case "finished":
          return deps.store.finish(
            deps.name,
            message.txId,
            message.startedAt,
            message.branches,
            deps.clock(),
          );
      }
    },

    /** Asks the coordinator about barriers prepared too long; resolves with how many. */
    inquire: twoPhase.inquire,
  };
}

export type Participant = ReturnType<typeof createParticipant>;
