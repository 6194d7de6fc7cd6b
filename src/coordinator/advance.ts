import type { Logger } from "@aws-lambda-powertools/logger";
import { jitteredBackoffMs } from "../core/backoff.ts";
import type { Step } from "../core/step.ts";
import { isFinal, type TxRecord } from "../core/transaction.ts";
import { decides as isDecision } from "../core/transitions.ts";
import type { Crash, CrashPoint } from "../crash-points.ts";
import { type Metrics, recordWrite } from "../metrics/metrics.ts";
import { type Alongside, AlongsideRefusedError, type OwnCommit } from "../ports/alongside.ts";
import type { MessageBus } from "../ports/message-bus.ts";
import type { TransactionStore } from "../ports/transaction-store.ts";
import { sleep } from "../timers.ts";
import { dispatch } from "./dispatch.ts";
import type { RecordCache } from "./record-cache.ts";

export interface CoordinatorDeps {
  readonly store: TransactionStore;
  readonly bus: MessageBus;
  readonly clock: () => number;
  readonly log: Logger;
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
  /** Records this process last wrote or read: a hit saves the read before a write. */
  readonly records?: RecordCache;
  /**
   * The commit the participant whose answer is being applied offers for the
   * write that decides `txId` (ports/alongside.ts, src/self-delivery.ts).
   */
  readonly ownCommit?: (txId: string) => OwnCommit | undefined;
}

/**
 * A participant's own write to fold into the record's (ports/alongside.ts):
 * its commit into the write that decides, or its prepare into the write of its
 * vote.
 */
export interface OwnFold {
  readonly participant: string;
  /** `step` with the participant's part folded in, when it takes one (core/own-commit.ts, core/own-vote.ts). */
  readonly fold: (before: TxRecord, step: Step, now: number) => Folded | undefined;
  /**
   * The transition is a vote that stands only on its part (a vote with its
   * prepare): without the part, or with the part refused, nothing is written
   * or sent, and the participant prepares and votes on its own.
   */
  readonly required?: boolean;
}

export interface Folded {
  readonly step: Step;
  /** The participant's part of the write. */
  readonly alongside: Alongside;
  /** Called once the write is durable. */
  written(): void;
}

const racePause = (attempt: number): Promise<void> =>
  sleep(jitteredBackoffMs(4, attempt, 2_000, Math.random));

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
 * A lost race decides again on the record that won, which the failed write
 * returns; nothing is sent on a stale record. The record comes from
 * `deps.records` when this process holds it: then a change costs one write
 * and no read. A held record is only a hint: a step that changes nothing on it
 * is decided again on a fresh read before anything is sent.
 * Returns undefined when the transaction does not exist.
 */
export async function advance(
  deps: CoordinatorDeps,
  id: string,
  transition: (tx: TxRecord, now: number) => Step,
  points: AdvancePoints = {},
  own?: OwnFold,
): Promise<TxRecord | undefined> {
  const crash = deps.crash ?? (() => {});
  const pause = deps.pause ?? racePause;
  // Held as read, or let go once final: a stale unfinished copy would cost every later message a read.
  const keep = (record: TxRecord): void => {
    if (isFinal(record.state)) deps.records?.forget(id);
    else deps.records?.remember(record);
  };
  const held = deps.records?.get(id);
  let tx = held ?? (await deps.store.get(id));
  let fresh = held === undefined;
  for (let attempt = 0; attempt < MAX_RACES; attempt++) {
    if (!tx) {
      deps.records?.forget(id);
      return undefined;
    }
    const now = deps.clock();
    const plain = transition(tx, now);
    // The participant's own part, written with the record, unless it was refused.
    const folded = plain.changed ? own?.fold(tx, plain, now) : undefined;
    // Not taken (a held copy is never ahead of the record, so a fresh read would not take it either).
    // Kept: the participant's own vote, which follows, then needs no read.
    if (own?.required && !folded) {
      keep(tx);
      return tx;
    }
    const step = folded?.step ?? plain;
    if (!step.changed) {
      if (!fresh) {
        tx = await deps.store.get(id);
        fresh = true;
        continue;
      }
      keep(tx);
      await dispatch(tx, step.effects, deps.bus, deps.log);
      return tx;
    }
    const next: TxRecord = { ...step.next, version: tx.version + 1 };
    const decides = isDecision(tx, next);
    if (decides && points.beforeDecision) crash(points.beforeDecision);
    let outcome: Awaited<ReturnType<TransactionStore["update"]>>;
    try {
      outcome = await deps.store.update(tx, next, folded?.alongside);
    } catch (err) {
      if (!(folded && own && err instanceof AlongsideRefusedError)) throw err;
      // Its part's condition failed: nothing was written.
      if (own.required) {
        deps.log.debug("the participant's prepare was refused with its vote; it prepares on its own", {
          txId: id,
          participant: own.participant,
        });
        keep(tx);
        return tx;
      }
      deps.log.warn("the participant's commit was refused with the decision; it is sent the COMMIT", {
        txId: id,
        participant: own.participant,
      });
      own = undefined;
      continue;
    }
    if (!outcome.saved) {
      // A stale hint is no race: decide again at once on the record that won.
      if (fresh) await pause(attempt);
      tx = outcome.current;
      fresh = true;
      continue;
    }
    keep(next);
    folded?.written();
    deps.onWrite?.(next);
    if (deps.metrics) recordWrite(deps.metrics, tx, next);
    if (decides && points.afterDecision) crash(points.afterDecision);
    if (points.afterWrite) crash(points.afterWrite);
    await dispatch(next, step.effects, deps.bus, deps.log);
    return next;
  }
  throw new ContentionError(`transaction ${id} kept changing under ${MAX_RACES} attempts`);
}
