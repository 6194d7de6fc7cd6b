/**
 * A record's timeline as the transactions table stores it: one string, not a
 * list of maps. DynamoDB counts every attribute name of every map in an item's
 * size, and a write is billed per started KB, so a 2-party transfer's record
 * in the long form passes 1 KB at its decision (each write then bills twice);
 * in this form it stays under. Short keys, times as milliseconds after the
 * record's creation, a code per event type, and `*` for an event that names
 * every participant of the record in their order. Records written in the long
 * form are read as they are.
 */
import type { EventType, TxEvent } from "../core/transaction.ts";

/** One code per event type; never reuse or change a code: stored records name types by it. */
const TYPE_CODES: Readonly<Record<EventType, string>> = {
  created: "c",
  prepare_sent: "ps",
  prepare_resent: "pr",
  vote: "v",
  late_vote: "lv",
  decision: "d",
  decision_sent: "ds",
  decision_resent: "dr",
  decision_stalled: "dx",
  ack: "a",
  completed: "f",
  waiting: "w",
  abort_requested: "ar",
  retry_requested: "rr",
  outcome_asked: "oa",
  outcome_asked_again: "oq",
  restarted: "rs",
  stage_started: "ss",
  action_sent: "as",
  action_resent: "ax",
  step_result: "sr",
  stage_decision: "sd",
  compensation_sent: "cs",
  compensation_resent: "cr",
  compensation_stalled: "cx",
};

/** `table` read the other way: from each value back to its key. */
const inverse = <K extends string>(table: Readonly<Record<K, string>>): ReadonlyMap<string, K> =>
  new Map(Object.entries(table).map(([key, value]) => [value as string, key as K]));

const TYPES_BY_CODE = inverse(TYPE_CODES);

type Field = Exclude<keyof TxEvent, "at" | "type">;

/** The short key of each field; `t` (time) and `e` (type) are taken. */
const FIELD_KEYS: Readonly<Record<Field, string>> = {
  participants: "ps",
  participantsOmitted: "po",
  participant: "p",
  vote: "v",
  holder: "h",
  decision: "d",
  reason: "r",
  attempt: "a",
  stage: "s",
  branch: "b",
  branches: "bs",
  step: "st",
  outcome: "o",
};

const FIELDS_BY_KEY = inverse(FIELD_KEYS);

/** Every participant of the record, as an event naming all of them lists them. */
const EVERYONE = "*";

const sameNames = (a: readonly string[], b: readonly string[]): boolean =>
  a.length === b.length && a.every((name, i) => name === b[i]);

/**
 * `events` in the stored form. `createdAt` and `participants` (the record's
 * participants in order) are the record's own, so reading it back needs them.
 */
export function encodeEvents(
  events: readonly TxEvent[],
  createdAt: number,
  participants: readonly string[],
): string {
  return JSON.stringify(
    events.map((event) => {
      const { at, type, ...fields } = event;
      const stored: Record<string, unknown> = {};
      if (at !== createdAt) stored.t = at - createdAt;
      stored.e = TYPE_CODES[type];
      for (const [field, value] of Object.entries(fields) as [Field, unknown][]) {
        if (value === undefined) continue;
        stored[FIELD_KEYS[field]] =
          field === "participants" && sameNames(value as string[], participants) ? EVERYONE : value;
      }
      return stored;
    }),
  );
}

/** `events` as stored, in either form, back to the record's timeline. */
export function decodeEvents(stored: unknown, createdAt: number, participants: readonly string[]): TxEvent[] {
  if (typeof stored !== "string") return (stored as TxEvent[] | undefined) ?? [];
  return (JSON.parse(stored) as Record<string, unknown>[]).map((compact) => {
    const type = TYPES_BY_CODE.get(compact.e as string);
    if (type === undefined) throw new Error(`stored event of unknown type ${JSON.stringify(compact.e)}`);
    const event: Record<string, unknown> = { at: createdAt + ((compact.t as number | undefined) ?? 0), type };
    for (const [key, value] of Object.entries(compact)) {
      if (key === "t" || key === "e") continue;
      const field = FIELDS_BY_KEY.get(key);
      if (field === undefined) throw new Error(`stored event field of unknown key ${JSON.stringify(key)}`);
      event[field] = field === "participants" && value === EVERYONE ? [...participants] : value;
    }
    return event as unknown as TxEvent;
  });
}
