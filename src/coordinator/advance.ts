import type { TransactionStore } from "../adapters/dynamodb-transaction-store.ts";
import { StaleRecordError } from "../adapters/errors.ts";
import type { MessageBus } from "../adapters/sqs-bus.ts";
import type { Step } from "../core/step.ts";
import type { TxRecord } from "../core/transaction.ts";
import { decides as isDecision } from "../core/transitions.ts";
import type { Crash, CrashPoint } from "../crash-points.ts";
import type { Log } from "../log.ts";
import { type Metrics, recordWrite } from "../metrics/metrics.ts";
import { dispatch } from "./dispatch.ts";

export interface CoordinatorDeps {
  readonly store: TransactionStore;
  readonly bus: MessageBus;
  readonly clock: () => number;
  readonly log: Log;
  /** Sees every record written, once durable (the in-process decision signal). */
  readonly onWrite?: (tx: TxRecord) => void;
  /** Crash-point injection for fault tests. */
  readonly crash?: Crash;
  /** Decisions, completions and re-sends, counted from each durable write. */
  readonly metrics?: Metrics;
  /**
   * Waits before reloading after a lost race (jittered, growing with the attempt).
   * Injectable so the deterministic simulation needs no timers.
   */
  readonly pause?: (attempt: number) => Promise<void>;
}

const racePause = (attempt: number): Promise<void> =>
  new Promise((r) => setTimeout(r, Math.random() * 4 * 2 ** attempt));

/** Crash points a caller names around its write. */
export interface AdvancePoints {
  /** Before writing a step that decides the transaction. */
  readonly beforeDecision?: CrashPoint;
  /** After a decision is durable, before its messages leave. */
  readonly afterDecision?: CrashPoint;
  /** After any write, before its messages leave. */
  readonly afterWrite?: CrashPoint;
}

// Writers of one record are its votes, acks, the sweeper and operators: a few at
// most, so a few reloads settle any race. A message that still loses is redelivered.
const MAX_RACES = 10;

export class ContentionError extends Error {
  override name = "ContentionError";
}

/**
 * The one way a record changes: load, decide, write conditionally, then send.
 * A lost race reloads and decides again; nothing is sent on a stale record.
 * Returns undefined when the transaction does not exist.
 */
export async function advance(
  deps: CoordinatorDeps,
  id: string,
  transition: (tx: TxRecord, now: number) => Step,
  points: AdvancePoints = {},
): Promise<TxRecord | undefined> {
  const crash = deps.crash ?? (() => {});
  const pause = deps.pause ?? racePause;
  for (let attempt = 0; attempt < MAX_RACES; attempt++) {
    const tx = await deps.store.get(id);
    if (!tx) return undefined;
    const step = transition(tx, deps.clock());
    if (!step.changed) {
      await dispatch(tx, step.effects, deps.bus, deps.log);
      return tx;
    }
    const next: TxRecord = { ...step.next, version: tx.version + 1 };
    const decides = isDecision(tx, next);
    if (decides && points.beforeDecision) crash(points.beforeDecision);
    try {
      await deps.store.save(next, tx.version);
    } catch (err) {
      if (!(err instanceof StaleRecordError)) throw err;
      await pause(attempt);
      continue;
    }
    deps.onWrite?.(next);
    if (deps.metrics) recordWrite(deps.metrics, tx, next);
    if (decides && points.afterDecision) crash(points.afterDecision);
    if (points.afterWrite) crash(points.afterWrite);
    await dispatch(next, step.effects, deps.bus, deps.log);
    return next;
  }
  throw new ContentionError(`transaction ${id} kept changing under ${MAX_RACES} attempts`);
}
