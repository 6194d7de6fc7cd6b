/**
 * What a service writes: its business rules, one function per message. The
 * kit calls each at most once per step (a duplicate gets the recorded answer),
 * and only when the barrier says the step may run.
 */
import type { Branch } from "./request.ts";

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

export type Vote =
  | { readonly vote: "yes"; readonly data?: unknown }
  | { readonly vote: "no"; readonly reason: string; readonly branch?: number };
export type StepOutcome =
  | { readonly outcome: "done"; readonly data?: unknown }
  | { readonly outcome: "failed"; readonly reason: string };

export const yes = (data?: unknown): Vote => ({ vote: "yes", ...(data !== undefined ? { data } : {}) });
export const no = (reason: string, branch?: number): Vote => ({
  vote: "no",
  reason,
  ...(branch !== undefined ? { branch } : {}),
});
export const done = (data?: unknown): StepOutcome => ({
  outcome: "done",
  ...(data !== undefined ? { data } : {}),
});
export const failed = (reason: string): StepOutcome => ({ outcome: "failed", reason });

/** 2PC: reserve on `prepare`, apply on `commit`, release on `rollback`. */
export interface TwoPhaseRules {
  /** Reserve what the branches need and vote; a no reserves nothing. */
  prepare(ctx: PrepareContext): Promise<Vote>;
  /** Apply what `prepare` reserved. Must succeed: the service voted yes. */
  commit(ctx: DecisionContext): Promise<void>;
  /**
   * Release what `prepare` reserved. Called after a yes, and after a `prepare`
   * that never finished (a crash): release whatever this transaction holds,
   * which may be nothing.
   */
  rollback(ctx: DecisionContext): Promise<void>;
}

/** Saga: do on `action`, undo on `compensate`. */
export interface SagaRules {
  action(ctx: ActionContext): Promise<StepOutcome>;
  /**
   * Undo what `action` did. Called only when it may have applied (`done`, or
   * an action that never finished, then `data` is undefined); must succeed in
   * the end: throw to be called again later.
   */
  compensate(ctx: CompensateContext): Promise<void>;
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
