/**
 * The transaction record's size, bounded by construction: the timeline in bytes,
 * events' participant lists, and the worst case of everything a record can hold
 * once the API has let its branches in.
 */
import { describe, expect, it } from "vitest";
import { toItem } from "../../src/adapters/dynamodb-transaction-item.ts";
import { encodeEvents } from "../../src/adapters/stored-events.ts";
import { reasonOf } from "../../src/core/reasons.ts";
import {
  branchesBytes,
  EVENT_LOG_MAX_BYTES,
  eventBytes,
  ITEM_LIMIT_BYTES,
  itemBytes,
  MAX_BRANCHES_BYTES,
  MAX_NAMED_PER_EVENT,
  storedBytes,
} from "../../src/core/record-size.ts";
import { appendEvents, type Policy } from "../../src/core/step.ts";
import type {
  AtomicParticipant,
  BranchSpec,
  ParticipantState,
  SagaRecord,
  SagaStep,
  TwoPcRecord,
  TxEvent,
} from "../../src/core/transaction.ts";
import { begin, onSweep, onVote } from "../../src/core/two-phase-commit.ts";

const policy: Policy = {
  prepareRetryMs: 1_000,
  decisionRetryMs: 1_000,
  backoffCapMs: 8_000,
  waitingRetryMs: 30_000,
  stalledAfterAttempts: 3,
  maxEvents: 100,
};

const T0 = 1_700_000_000_000;
/** The longest a participant's name may be in a message. */
const name = (i: number) => `p${String(i).padStart(3, "0")}-`.padEnd(64, "x");
const NAMES = Array.from({ length: 100 }, (_, i) => name(i));
/** The longest reason a vote or a step result may carry: 200 characters of 3 bytes. */
const REASON = reasonOf("€".repeat(200));
const TX_ID = "t".repeat(128);
/**
 * The longest reason as JSON: 200 control characters, six bytes each once
 * escaped (the table keeps the timeline as JSON text).
 */
const ESCAPED_REASON = reasonOf("\u0001".repeat(200));
const logBytes = (events: readonly TxEvent[]) => events.reduce((n, e) => n + eventBytes(e), 0);

/** 100 branches within 100 bytes of the API's budget, at participants with the longest names. */
function fullBranches(saga: boolean): BranchSpec[] {
  const make = (fill: number): BranchSpec[] =>
    NAMES.map((participant, i) => ({
      participant,
      action: "a".repeat(64),
      input: { data: "d".repeat(fill) },
      ...(saga ? { stage: i, compensation: { action: "c".repeat(64), input: { data: "" } } } : {}),
    }));
  const branches = make(Math.floor((MAX_BRANCHES_BYTES - branchesBytes(make(0))) / 100));
  expect(branchesBytes(branches)).toBeLessThanOrEqual(MAX_BRANCHES_BYTES);
  expect(branchesBytes(branches)).toBeGreaterThan(MAX_BRANCHES_BYTES - 100);
  return branches;
}

describe("what DynamoDB counts", () => {
  it.each([
    { what: "an ASCII string", value: "abc", bytes: 3 },
    { what: "a string of 3-byte characters", value: "€€", bytes: 6 },
    { what: "a string of 4-byte characters", value: "😀", bytes: 4 },
    { what: "a boolean", value: true, bytes: 1 },
    { what: "null", value: null, bytes: 1 },
    { what: "an empty list", value: [], bytes: 3 },
    { what: "a list: 3 bytes, 1 per element, and the elements", value: ["ab", "c"], bytes: 3 + 2 + 3 },
    { what: "a map: names count too", value: { ab: "cd" }, bytes: 3 + 1 + 2 + 2 },
    { what: "nested empty lists", value: [[], []], bytes: 3 + 2 * (1 + 3) },
  ])("$what: $bytes bytes", ({ value, bytes }) => {
    expect(storedBytes(value)).toBe(bytes);
  });

  it("a number takes about one byte per two digits, plus one", () => {
    expect(storedBytes(7)).toBe(2);
    expect(storedBytes(T0)).toBe(8);
  });

  it("an item's attributes cost their names and values, without a map's overhead", () => {
    expect(itemBytes({ id: "abc", n: true })).toBe(2 + 3 + 1 + 1);
  });

  it("branches are measured as stored or as JSON, whichever is larger", () => {
    // Many empty lists: larger stored than as JSON.
    const lists = [{ input: Array.from({ length: 1_000 }, () => []) }];
    expect(branchesBytes(lists)).toBe(storedBytes(lists));
    expect(branchesBytes(lists)).toBeGreaterThan(JSON.stringify(lists).length);
    // Control characters: escaped in JSON (and so in SQS messages), larger than stored.
    const escaped = [{ input: "\u0001".repeat(1_000) }];
    expect(branchesBytes(escaped)).toBe(JSON.stringify(escaped).length);
  });

  it("input nested too deeply to measure counts as too large", () => {
    let deep: unknown = [];
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(branchesBytes([{ input: deep }])).toBe(Number.POSITIVE_INFINITY);
  });
});

describe("the timeline", () => {
  const record = (): TwoPcRecord =>
    begin(
      {
        id: "t1",
        requestHash: "h",
        timeoutMs: 60_000,
        branches: NAMES.map((p) => ({ participant: p, action: "deposit", input: {} })),
      },
      T0,
      policy,
    ).next;

  it("an event about 100 participants names the first few and counts the others", () => {
    const sent = record().events.find((e) => e.type === "prepare_sent");
    expect(sent?.participants).toEqual(NAMES.slice(0, MAX_NAMED_PER_EVENT));
    expect(sent?.participantsOmitted).toBe(100 - MAX_NAMED_PER_EVENT);
  });

  it("an event about a few participants names them all", () => {
    const tx = appendEvents(record(), [{ at: T0, type: "decision_sent", participants: ["a", "b"] }], 100);
    expect(tx.events.at(-1)).toEqual({ at: T0, type: "decision_sent", participants: ["a", "b"] });
  });

  it("hundreds of decision re-sends to 100 long-named participants stay within the log's bytes", () => {
    let tx = record();
    for (const p of NAMES) tx = onVote(tx, { participant: p, vote: "yes" }, T0, policy).next;
    expect(tx.state).toBe("committing");
    for (let i = 0; i < 500; i++) tx = onSweep(tx, tx.dueAt ?? T0, policy).next;
    expect(logBytes(tx.events)).toBeLessThanOrEqual(EVENT_LOG_MAX_BYTES);
    expect(tx.events[0]).toMatchObject({ type: "created" });
    expect(tx.events.at(-1)).toMatchObject({ type: "decision_resent", attempt: 500 });
    // created, prepare_sent, 100 votes, decision, decision_sent, 500 re-sends, decision_stalled once.
    expect(tx.events.length + tx.eventsDropped).toBe(2 + 100 + 2 + 500 + 1);
  });

  it("large events are kept by bytes, not by count: first events, then the newest, the rest counted", () => {
    // Vote events with the longest reasons: far fewer than maxEvents fit.
    const big = (i: number): TxEvent => ({
      at: T0 + i,
      type: "vote",
      participant: name(i % 100),
      reason: REASON,
    });
    let tx = record();
    const before = tx.events.length;
    for (let i = 0; i < 1_000; i++) tx = appendEvents(tx, [big(i)], policy.maxEvents);
    expect(logBytes(tx.events)).toBeLessThanOrEqual(EVENT_LOG_MAX_BYTES);
    expect(logBytes(tx.events)).toBeGreaterThan(EVENT_LOG_MAX_BYTES - 2 * eventBytes(big(0)));
    expect(tx.events.length).toBeLessThan(policy.maxEvents);
    // The first ten events, as they came.
    const head = 10;
    expect(tx.events.slice(0, head)).toEqual([
      ...record().events,
      ...Array.from({ length: head - before }, (_, i) => big(i)),
    ]);
    expect(tx.events.length + tx.eventsDropped).toBe(before + 1_000);
    // Then the newest, in order, with nothing missing between them.
    const tail = tx.events.slice(head);
    expect(tail).toEqual(tail.map((_, k) => big(1_000 - tail.length + k)));
  });

  it("kept within its bytes as the table stores it too: one JSON text, reasons escaped", () => {
    const tx = fullLog(record());
    const text = encodeEvents(tx.events, tx.createdAt, NAMES);
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(EVENT_LOG_MAX_BYTES + 1);
    expect(Buffer.byteLength(text)).toBeGreaterThan(EVENT_LOG_MAX_BYTES * 0.5);
  });

  it("small events are still kept up to maxEvents", () => {
    let tx = record();
    for (let i = 0; i < 300; i++) tx = appendEvents(tx, [{ at: T0 + i, type: "ack" }], policy.maxEvents);
    expect(tx.events).toHaveLength(policy.maxEvents);
  });
});

/** A full timeline of the largest events a transaction can record. */
function fullLog<R extends TwoPcRecord | SagaRecord>(tx: R): R {
  let next = tx;
  for (let i = 0; i < 1_000; i++) {
    next = appendEvents(
      next,
      [
        { at: T0 + i, type: "vote", stage: 99, participant: name(i % 100), vote: "no", reason: REASON },
        { at: T0 + i, type: "late_vote", stage: 99, participant: name(i % 100), reason: ESCAPED_REASON },
        {
          at: T0 + i,
          type: "decision_resent",
          stage: 99,
          decision: "commit",
          participants: NAMES,
          attempt: 1_000_000 + i,
        },
        { at: T0 + i, type: "waiting", stage: 99, participant: name(i % 100), holder: TX_ID },
      ],
      policy.maxEvents,
    );
  }
  expect(logBytes(next.events)).toBeGreaterThan(EVENT_LOG_MAX_BYTES * 0.9);
  return next;
}

/**
 * The estimate counts every digit of a number (DynamoDB only significant ones);
 * 5% of the item is left besides, should DynamoDB count anything else a little
 * differently. Measured: about 288 KB for 2PC and 362 KB for a saga.
 */
const HEADROOM = 0.95;

/** The record as the store writes it (the timeline as text), with every index key it may carry. */
const stored = (tx: TwoPcRecord | SagaRecord) => ({
  ...toItem(tx, "0123456789abcdef", 1_000, 86_400),
  dueShard: "999",
  waitShard: "999",
  statusShard: "committed#999",
  protocolShard: "saga#999",
  participant1Shard: `${name(0)}#999`,
  participant2Shard: `${name(1)}#999`,
  expiresAt: T0,
});

/**
 * Every field at its largest at once, whether or not a real run reaches them
 * together: a record can only be smaller than this.
 */
const worstRecordBase = (branches: BranchSpec[]) => ({
  id: TX_ID,
  createdAt: T0,
  timeoutMs: 86_400_000,
  deadline: T0 + 86_400_000,
  decidedAt: T0,
  completedAt: T0,
  reason: REASON,
  branches,
  events: [],
  waits: Object.fromEntries(NAMES.map((n) => [n, TX_ID])),
  eventsDropped: 1_000_000_000,
  attempts: 1_000_000_000,
  dueAt: T0,
  requestHash: "h".repeat(64),
  version: 1_000_000_000,
});

/**
 * A participant with every field at its largest. Only one carries a reason: a
 * no vote decides (its 2PC, or its atomic stage and so the saga), and votes
 * after a decision are not recorded.
 */
const worstParticipant = (i: number): AtomicParticipant => ({
  name: name(i),
  branches: [i],
  vote: "no",
  ...(i === 0 ? { reason: REASON } : {}),
  failedBranch: i,
  acked: true,
  attempts: 1_000_000_000,
  dueAt: T0,
});

describe("the largest record fits one DynamoDB item", () => {
  it("a 2PC record: branches at the budget, every participant and wait at its largest, a full timeline", () => {
    const participants: ParticipantState[] = NAMES.map((_, i) => worstParticipant(i));
    const tx = fullLog<TwoPcRecord>({
      ...worstRecordBase(fullBranches(false)),
      protocol: "2pc",
      state: "committing",
      participants,
    });
    expect(itemBytes(stored(tx))).toBeLessThanOrEqual(HEADROOM * ITEM_LIMIT_BYTES);
  });

  it("a saga record: branches at the budget, 100 atomic stages, every step with the longest reason", () => {
    const steps: SagaStep[] = NAMES.map(() => ({
      status: "compensating",
      attempts: 1_000_000_000,
      dueAt: T0,
      reason: REASON,
    }));
    const tx = fullLog<SagaRecord>({
      ...worstRecordBase(fullBranches(true)),
      protocol: "saga",
      state: "compensating",
      stages: NAMES.map((_, i) => ({
        stage: 1_000_000_000 + i,
        branches: [i],
        atomic: { participants: [worstParticipant(i)], decision: "commit", decidedAt: T0 },
      })),
      current: 99,
      steps,
      failedBranch: 99,
    });
    expect(itemBytes(stored(tx))).toBeLessThanOrEqual(HEADROOM * ITEM_LIMIT_BYTES);
  });
});
