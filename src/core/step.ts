/**
 * What every protocol's transitions share: the policy they run under, the
 * messages they ask for, and the step they return. Pure.
 */
import { EVENT_LOG_MAX_BYTES, eventBytes, MAX_NAMED_PER_EVENT } from "./record-size.ts";
import type { Decision, TxEvent, TxRecord } from "./transaction.ts";

export interface Policy {
  /** First re-send delay of a message that asks for work: PREPARE, a saga action. */
  readonly prepareRetryMs: number;
  /** First re-send delay of a message that must land: a decision, a compensation. */
  readonly decisionRetryMs: number;
  /**
   * Least delay between PREPAREs to a participant that reported waiting for a
   * lock: it is registered on the lock and woken by its release, so more copies
   * would only wait beside it, but a wake-up may be lost, so re-delivery never
   * stops: this bounds how long a lost wake-up delays a waiter.
   */
  readonly waitingRetryMs: number;
  readonly backoffCapMs: number;
  readonly stalledAfterAttempts: number;
  /** Upper bound on the number of events kept in the record (its bytes are bounded too). */
  readonly maxEvents: number;
}

/** A message to send once the record that asks for it is durable. */
export type Effect =
  | { readonly kind: "prepare"; readonly participant: string }
  | { readonly kind: "decision"; readonly participant: string; readonly decision: Decision }
  /** Saga: run branch `branch`'s action. */
  | { readonly kind: "action"; readonly participant: string; readonly branch: number }
  /** Saga: run branch `branch`'s compensation. */
  | { readonly kind: "compensate"; readonly participant: string; readonly branch: number }
  /** Saga, once final: the participant may let the barriers it kept for it expire. */
  | { readonly kind: "finished"; readonly participant: string };

export interface Step<R extends TxRecord = TxRecord> {
  readonly next: R;
  readonly effects: readonly Effect[];
  /** False when the record is unchanged and must not be written. */
  readonly changed: boolean;
}

export const unchanged = <R extends TxRecord>(tx: R, effects: readonly Effect[] = []): Step<R> => ({
  next: tx,
  effects,
  changed: false,
});

/** Events are immutable and carried from record to record: each is measured once. */
const sizes = new WeakMap<TxEvent, number>();
function sizeOf(e: TxEvent): number {
  let n = sizes.get(e);
  if (n === undefined) {
    n = eventBytes(e);
    sizes.set(e, n);
  }
  return n;
}

/** An event as kept: naming at most `MAX_NAMED_PER_EVENT` participants, counting the others. */
function bounded(e: TxEvent): TxEvent {
  const names = e.participants;
  if (names === undefined || names.length <= MAX_NAMED_PER_EVENT) return e;
  return {
    ...e,
    participants: names.slice(0, MAX_NAMED_PER_EVENT),
    participantsOmitted: names.length - MAX_NAMED_PER_EVENT + (e.participantsOmitted ?? 0),
  };
}

/**
 * Keeps the first events (how it started) and the newest (where it is now), at
 * most `maxEvents` of them and `EVENT_LOG_MAX_BYTES` as stored, whatever the
 * events hold: the record must fit one item however long the transaction runs.
 * The first events take at most a quarter of either bound; `eventsDropped`
 * counts what is left out between them and the newest.
 */
export function appendEvents<R extends TxRecord>(tx: R, events: readonly TxEvent[], maxEvents: number): R {
  const all = [...tx.events, ...events.map(bounded)];
  const size = all.map(sizeOf);
  const total = size.reduce((a, b) => a + b, 0);
  if (all.length <= maxEvents && total <= EVENT_LOG_MAX_BYTES) return { ...tx, events: all };
  let kept = 0;
  let head = 0;
  const headLimit = Math.min(10, Math.floor(maxEvents / 4));
  while (head < headLimit && kept + (size[head] ?? 0) <= EVENT_LOG_MAX_BYTES / 4) kept += size[head++] ?? 0;
  let tail = all.length;
  while (tail > head && all.length - tail < maxEvents - head) {
    const next = size[tail - 1] ?? 0;
    if (kept + next > EVENT_LOG_MAX_BYTES) break;
    kept += next;
    tail--;
  }
  return {
    ...tx,
    events: [...all.slice(0, head), ...all.slice(tail)],
    eventsDropped: tx.eventsDropped + (tail - head),
  };
}
