import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fromItem, toItem } from "../../src/adapters/dynamodb-transaction-item.ts";
import { decodeEvents, encodeEvents } from "../../src/adapters/stored-events.ts";
import { EVENT_TYPES, type TxEvent } from "../../src/core/transaction.ts";
import { begunTwoPc } from "../helpers/policy.ts";

const CREATED = 1_764_927_000_123;
const NAMES = ["bank-1", "bank-2"];

const name = fc.constantFrom("bank-1", "bank-2", "bank-3", "inventory");
const event: fc.Arbitrary<TxEvent> = fc.record(
  {
    at: fc.integer({ min: CREATED - 5_000, max: CREATED + 86_400_000 }),
    type: fc.constantFrom(...EVENT_TYPES),
    participants: fc.oneof(fc.constant(NAMES), fc.array(name, { maxLength: 4 })),
    participantsOmitted: fc.nat(),
    participant: name,
    vote: fc.constantFrom("yes" as const, "no" as const),
    holder: fc.uuid(),
    decision: fc.constantFrom("commit" as const, "abort" as const),
    reason: fc.record({ code: fc.constantFrom("insufficient_funds", "timeout"), message: fc.string() }),
    attempt: fc.nat(),
    stage: fc.integer(),
    branch: fc.nat(),
    branches: fc.array(fc.nat(), { maxLength: 3 }),
    step: fc.constantFrom("action" as const, "compensation" as const),
    outcome: fc.constantFrom("done" as const, "failed" as const, "retry" as const),
  },
  { requiredKeys: ["at", "type"] },
) as fc.Arbitrary<TxEvent>;

describe("a record's timeline as stored", () => {
  it("reads back exactly what was written, whatever the events hold", () => {
    fc.assert(
      fc.property(fc.array(event, { maxLength: 12 }), (events) => {
        expect(decodeEvents(encodeEvents(events, CREATED, NAMES), CREATED, NAMES)).toEqual(events);
      }),
    );
  });

  it("gives every event type a code of its own", () => {
    const codes = EVENT_TYPES.map(
      (type) => JSON.parse(encodeEvents([{ at: CREATED, type }], CREATED, []))[0].e,
    );
    expect(new Set(codes).size).toBe(EVENT_TYPES.length);
  });

  it("writes an event naming every participant in order as `*`, and any other list as it is", () => {
    const events: TxEvent[] = [
      { at: CREATED, type: "prepare_sent", participants: NAMES },
      { at: CREATED + 40, type: "decision_sent", participants: ["bank-2", "bank-1"] },
    ];
    expect(encodeEvents(events, CREATED, NAMES)).toBe(
      '[{"e":"ps","ps":"*"},{"t":40,"e":"ds","ps":["bank-2","bank-1"]}]',
    );
  });

  it("reads a record written with its timeline as a list, and its counters, as they were", () => {
    const tx = begunTwoPc({ at: CREATED });
    const item = toItem(tx, "token", 4, 3_600);
    expect(typeof item.events).toBe("string");
    expect(item.attempts).toBeUndefined();
    expect(fromItem({ ...item })).toEqual(tx);
    // As records were stored before: the list of maps, both counters written out.
    expect(fromItem({ ...item, events: tx.events, eventsDropped: 0, attempts: 0 })).toEqual(tx);
    const later = { ...tx, attempts: 2, eventsDropped: 3 };
    expect(fromItem(toItem(later, "token", 4, 3_600))).toEqual(later);
  });

  it("refuses a stored event it cannot read rather than drop it", () => {
    expect(() => decodeEvents('[{"e":"zz"}]', CREATED, NAMES)).toThrow(/unknown type "zz"/);
    expect(() => decodeEvents('[{"e":"c","q":1}]', CREATED, NAMES)).toThrow(/unknown key "q"/);
  });
});
