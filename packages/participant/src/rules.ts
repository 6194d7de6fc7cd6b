/**
 * What a service writes: its business rules, one function per message. The
 * kit calls each at most once per step (a duplicate gets the recorded answer),
 * and only when the barrier says the step may run.
 */
import type { Branch } from "./request.ts";
import type { Write } from "./store.ts";

interface Context {
  readonly txId: string;
  readonly participant: string;
  /** The transaction's incarnation (ISO 8601), when the request named one. */
  readonly startedAt?: string;
  /**
   * Stable for this step of this transaction: hand it to anything you call
   * that takes an idempotency key. After a crash (your code ran, the barrier
   * was not yet written) the kit runs the step again with the same key.
   */
  readonly key: string;
}

export interface PrepareContext extends Context {
  readonly branches: readonly Branch[];
  /** Epoch ms; the coordinator aborts at it. */
  readonly deadline: number;
}
export interface DecisionContext extends Context {
  readonly branches: readonly Branch[];
  /** What `prepare` returned as `data`. */
  readonly data: unknown;
}
export interface ActionContext extends Context, Branch {
  readonly deadline: number;
}
export interface CompensateContext extends Context, Branch {
  /** The branch ran in an atomic stage (prepare/commit), not as an action. */
  readonly atomic: boolean;
  /** What the `action` (or, for an atomic stage, `prepare`) returned as `data`; undefined if it never finished. */
  readonly data: unknown;
}

/**
 * The writes a rule asks for, committed by the store in the same atomic write
 * as the barrier's transition: they apply once, or not at all, whatever
 * crashes or duplicates come. A rule that returns its writes instead of doing
 * them does no I/O of its own but reads.
 */
export type Writes = readonly Write[];

/** What `commit`, `rollback` and `compensate` return: their writes, or nothing (`own-io` rules, or nothing to write). */
// biome-ignore lint/suspicious/noConfusingVoidType: a rule with no return statement must fit, as before writes existed
export type Applied = Writes | undefined | void;

export type Vote =
  | { readonly vote: "yes"; readonly data?: unknown; readonly writes?: Writes }
  | { readonly vote: "no"; readonly reason: string; readonly branch?: number };
export type StepOutcome =
  | { readonly outcome: "done"; readonly data?: unknown; readonly writes?: Writes }
  | { readonly outcome: "failed"; readonly reason: string };

const withWrites = (writes: Writes | undefined) => (writes && writes.length > 0 ? { writes } : {});

/** Vote yes; `writes` (what the vote reserves) are committed with the `prepared` barrier. A no reserves nothing. */
export const yes = (data?: unknown, writes?: Writes): Vote => ({
  vote: "yes",
  ...(data !== undefined ? { data } : {}),
  ...withWrites(writes),
});
export const no = (reason: string, branch?: number): Vote => ({
  vote: "no",
  reason,
  ...(branch !== undefined ? { branch } : {}),
});
/** The step applied; `writes` (what it applies) are committed with the `done` barrier. */
export const done = (data?: unknown, writes?: Writes): StepOutcome => ({
  outcome: "done",
  ...(data !== undefined ? { data } : {}),
  ...withWrites(writes),
});
export const failed = (reason: string): StepOutcome => ({ outcome: "failed", reason });

/**
 * 2PC: reserve on `prepare`, apply on `commit`, release on `rollback`. Each
 * rule may return the writes it wants (commit, rollback: as its result);
 * see `ParticipantOptions.mode` for what that buys.
 */
export interface TwoPhaseRules {
  /** Reserve what the branches need and vote; a no reserves nothing. */
  prepare(ctx: PrepareContext): Promise<Vote>;
  /** Apply what `prepare` reserved. Must succeed: the service voted yes. */
  commit(ctx: DecisionContext): Promise<Applied>;
  /**
   * Release what `prepare` reserved. Called after a yes, and after a `prepare`
   * that never finished (a crash): release whatever this transaction holds,
   * which may be nothing.
   */
  rollback(ctx: DecisionContext): Promise<Applied>;
}

/** Saga: do on `action`, undo on `compensate`. */
export interface SagaRules {
  action(ctx: ActionContext): Promise<StepOutcome>;
  /**
   * Undo what `action` did. Called only when it may have applied (`done`, or
   * an action that never finished, then `data` is undefined); must succeed in
   * the end: throw to be called again later.
   */
  compensate(ctx: CompensateContext): Promise<Applied>;
}

/**
 * Throw from any rule for a transient failure: nothing is recorded, the kit
 * answers 503 and concord sends the message again.
 */
export class RetryLaterError extends Error {
  override name = "RetryLaterError";
  constructor(
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(reason, options);
  }
}
