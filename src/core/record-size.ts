/**
 * What keeps a transaction record within one DynamoDB item (400 KB), by
 * construction: the request's branches are bounded at the API, every other part
 * of the record is bounded by the protocol (at most 100 branches, bounded names,
 * ids and reasons), and the timeline is bounded in bytes here. Pure.
 */

/** DynamoDB's limit on one item, names and values together. */
export const ITEM_LIMIT_BYTES = 400 * 1024;

/** The timeline's share of the item: first events and the newest, up to this size. */
export const EVENT_LOG_MAX_BYTES = 48 * 1024;

/**
 * The request's branches (actions, inputs, compensations), as stored. What is
 * left of the item holds the worst case of everything else a record carries:
 * 100 branches each with its step or participant state, a 200-character reason
 * (600 bytes of UTF-8) on every step, wait-for edges for every participant, the
 * full timeline and the store's index attributes (see test/unit/record-size.test.ts).
 */
export const MAX_BRANCHES_BYTES = 200 * 1024;

/** An event names at most this many participants; it counts the others. */
export const MAX_NAMED_PER_EVENT = 10;

const utf8Bytes = (s: string): number => {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      // A surrogate pair is one 4-byte character; a lone surrogate is stored as 3 bytes.
      if (d >= 0xdc00 && d < 0xe000) {
        n += 4;
        i++;
      } else n += 3;
    } else n += 3;
  }
  return n;
};

/**
 * DynamoDB's size of a number: about one byte per two significant digits, plus
 * one. Counting every digit of its decimal text (exponent too) never undercounts.
 */
const numberBytes = (n: number): number => {
  const digits = String(n).replace(/[^0-9]/g, "").length;
  return 1 + Math.ceil(digits / 2);
};

/**
 * The size DynamoDB counts for a value stored as the document client marshals
 * plain data (objects as maps, arrays as lists, `undefined` left out): a list or
 * map costs 3 bytes plus 1 per element, and each map element its name's bytes.
 */
export function storedBytes(value: unknown): number {
  switch (typeof value) {
    case "string":
      return utf8Bytes(value);
    case "number":
      return numberBytes(value);
    case "boolean":
      return 1;
    case "object": {
      if (value === null) return 1;
      let n = 3;
      if (Array.isArray(value)) {
        for (const v of value) n += 1 + storedBytes(v);
        return n;
      }
      for (const [k, v] of Object.entries(value)) {
        if (v !== undefined) n += 1 + utf8Bytes(k) + storedBytes(v);
      }
      return n;
    }
    default:
      return 0;
  }
}

/**
 * What one event of the timeline takes as stored: as an element of a list of
 * maps, or as its JSON text and a separator, whichever is larger. The
 * transactions table keeps the timeline as one compact JSON text, never longer
 * than the events' own JSON (shorter keys and codes), where a reason's control
 * characters take six bytes each.
 */
export function eventBytes(event: object): number {
  return Math.max(storedBytes(event), utf8Bytes(JSON.stringify(event)) + 1);
}

/** The size of a whole item: its attributes' names and values (no map overhead at the top). */
export function itemBytes(item: object): number {
  let n = 0;
  for (const [k, v] of Object.entries(item)) if (v !== undefined) n += utf8Bytes(k) + storedBytes(v);
  return n;
}

/**
 * The size the API checks a request's branches against: what DynamoDB counts,
 * or the JSON the PREPAREs and actions carry through SQS (256 KB a message),
 * whichever is larger. Input nested too deeply to measure counts as too large.
 */
export function branchesBytes(branches: unknown): number {
  try {
    return Math.max(storedBytes(branches), utf8Bytes(JSON.stringify(branches) ?? ""));
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}
