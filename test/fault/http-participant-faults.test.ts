/**
 * The dispatcher's delivery faults, run against every kind of HTTP service
 * concord has: the hand-written one the simulation uses
 * (testkit/sim/http-service.ts) and services built on the participant kit
 * (@concord/participant, both write modes, signed calls). Each scenario drives
 * the real dispatcher with the coordinator's messages — duplicated, reordered,
 * late, past the deadline, of a reused id, or answered by a service that dies
 * between its write and its answer — and checks what the coordinator hears
 * (votes, acks, step results) and what the service applied: each effect once,
 * none of a step that was refused or undone first, nothing left held.
 */
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { participantApp } from "../../packages/participant/src/hono.ts";
import {
  createMemoryBarrierStore,
  type MemoryBarrierStore,
} from "../../packages/participant/src/memory-store.ts";
import { done, failed, no, yes } from "../../packages/participant/src/rules.ts";
import type { BarrierStore, Write } from "../../packages/participant/src/store.ts";
import type {
  ActionMessage,
  CompensateMessage,
  CoordinatorMessage,
  DecisionMessage,
  ParticipantMessage,
  PrepareMessage,
} from "../../src/core/messages.ts";
import { createDispatcher } from "../../src/http-participants/dispatcher.ts";
import type { Caller } from "../../src/http-participants/http-call.ts";
import { SIGNATURE_HEADER, signature } from "../../src/http-participants/signature.ts";
import { fixedSecret } from "../../src/http-participants/signing-secret.ts";
import { silentLogger } from "../../testkit/logging.ts";
import { createSimulatedHttpService, REFUSE } from "../../testkit/sim/http-service.ts";
import { createRandom } from "../../testkit/sim/random.ts";

const NAME = "ext";
const SECRET = "fault-tests-secret-0123456789abcdef";
const T0 = Date.UTC(2029, 0, 1);
const FIRST = T0 - 60_000;
const SECOND = T0 - 1_000;
const DEADLINE = T0 + 30_000;

/** A service under test, as the dispatcher reaches it. */
interface Service {
  readonly call: Caller;
  /** The next call is applied, then the service dies before it answers (the dispatcher times out). */
  dieAfterNextWrite(): void;
  /** What it applied, one line per effect: `commit tx@t`, `action tx@t#b`, `compensation tx@t#b`. */
  effects(): Promise<string[]>;
  /** Transactions it still holds something for (a prepared barrier). */
  holding(): Promise<string[]>;
}

const effect = (kind: string, txId: string, startedAt: number, branch?: number) =>
  `${kind} ${txId}@${startedAt}${branch === undefined ? "" : `#${branch}`}`;

/** The simulation's hand-written service; a crash after its write is its network's `lost-answer`. */
function handWritten(): Service {
  let dying = false;
  const entries: string[] = [];
  const violations: string[] = [];
  const service = createSimulatedHttpService({
    name: NAME,
    rng: createRandom(1),
    fault: () => {
      if (!dying) return "none";
      dying = false;
      return "lost-answer";
    },
    record: (e) => {
      if (e.kind === "commit") entries.push(effect("commit", e.txId, e.startedAt));
      if ((e.kind === "action" || e.kind === "compensation") && e.applied)
        entries.push(effect(e.kind, e.txId, e.startedAt, e.branch));
    },
    violation: (detail) => violations.push(detail),
    afterCall: () => {},
    yieldSome: async () => {},
  });
  return {
    call: service.call,
    dieAfterNextWrite: () => {
      dying = true;
    },
    async effects() {
      expect(violations).toEqual([]);
      return entries;
    },
    holding: async () =>
      service
        .barriers()
        .filter((b) => b.state === "prepared")
        .map((b) => `${b.txId}@${b.txStartedAt}`),
  };
}

class Died extends Error {
  override name = "Died";
}

/**
 * A service on the participant kit: `prepare` holds, `commit` applies, an
 * action applies and its compensation undoes it; a branch whose input says
 * `refuse` is refused. In `transactional` mode the effects are writes
 * committed with the barrier; in `own-io` the rules write them to a ledger of
 * their own, keyed by the step so that a re-run after a crash writes nothing twice.
 */
function onTheKit(mode: "transactional" | "own-io"): Service {
  const base = createMemoryBarrierStore();
  const ownLedger = new Set<string>();
  let dying = false;
  let died = false;
  // Dies right after the first write that settles a step (the claim of own-io is not one).
  const store: BarrierStore = {
    get: (k, i) => base.get(k, i),
    newest: (k) => base.newest(k),
    readItem: (k) => base.readItem(k),
    async put(record, expectedVersion, writes) {
      const result = await base.put(record, expectedVersion, writes);
      if (dying && result.written && record.lease === undefined) {
        dying = false;
        died = true;
        throw new Died("the service died after its write, before its answer");
      }
      return result;
    },
  };
  const at = (startedAt: string | undefined) => Date.parse(startedAt ?? "");
  const apply = (line: string): Write[] => {
    if (mode === "own-io") {
      ownLedger.add(line);
      return [];
    }
    return [{ kind: "add", key: "ledger", field: line, amount: 1 }];
  };
  const concord = participantApp({
    store,
    mode,
    secret: SECRET,
    clock: () => now,
    twoPhase: {
      async prepare({ branches, startedAt }) {
        const refused = branches.find((b) => (b.input as Record<string, unknown>)?.[REFUSE] === true);
        return refused ? no("limit_exceeded", refused.branch) : yes({ startedAt });
      },
      // A decision may name no incarnation: the one prepared is in the barrier's data.
      async commit({ txId, data }) {
        return apply(effect("commit", txId, at((data as { startedAt?: string }).startedAt)));
      },
      async rollback() {},
    },
    saga: {
      async action({ txId, startedAt, branch, input }) {
        if ((input as Record<string, unknown>)?.[REFUSE] === true) return failed("limit_exceeded");
        return done(undefined, apply(effect("action", txId, at(startedAt), branch)));
      },
      async compensate({ txId, startedAt, branch }) {
        return apply(effect("compensation", txId, at(startedAt), branch));
      },
    },
  });
  const app = new Hono().route("/concord", concord);
  const call: Caller = async (request) => {
    const body = JSON.stringify(request.body);
    const res = await app.request(request.url.pathname, {
      method: "POST",
      body,
      headers: {
        "content-type": "application/json",
        ...request.headers,
        [SIGNATURE_HEADER]: signature(SECRET, "POST", request.url.pathname, body, now),
      },
    });
    // A process that died answers nothing: the dispatcher's call runs out of time.
    if (died) {
      died = false;
      return { kind: "timeout" };
    }
    return { kind: "response", status: res.status, body: await res.text() };
  };
  return {
    call,
    dieAfterNextWrite: () => {
      dying = true;
    },
    async effects() {
      if (mode === "own-io") return [...ownLedger];
      const ledger = (base as MemoryBarrierStore).items.get("ledger") ?? {};
      // Each effect is a count: one that applied twice shows up twice.
      return Object.entries(ledger).flatMap(([line, n]) => Array.from({ length: Number(n) }, () => line));
    },
    holding: async () => [...base.records.values()].filter((r) => r.state === "prepared").map((r) => r.key),
  };
}

let now = T0;

/** The real dispatcher in front of a service; `heard` is what reached the coordinator. */
function rig(service: Service) {
  now = T0;
  const heard: CoordinatorMessage[] = [];
  const requeued: ParticipantMessage[] = [];
  const dispatcher = createDispatcher({
    registry: {
      get: async (name) =>
        name === NAME
          ? {
              name,
              baseUrl: "https://ext.example/concord",
              protocols: ["2pc", "saga"],
              createdAt: 0,
              version: 1,
            }
          : undefined,
    },
    bus: {
      toCoordinator: async (m) => {
        heard.push(m);
      },
      toParticipant: async (_p, m) => {
        requeued.push(m);
      },
    },
    call: service.call,
    policy: { allowedHosts: [], allowPrivate: false },
    timeoutMs: 1_000,
    secret: fixedSecret(SECRET),
    clock: () => now,
    log: silentLogger(),
  });
  /** Delivers a message; says what the coordinator heard from this delivery (nothing: re-queued or silent). */
  const deliver = async (m: ParticipantMessage) => {
    const before = heard.length;
    await dispatcher.handle(m);
    return heard.slice(before).map(brief);
  };
  return { deliver, heard, requeued };
}

/** What the coordinator heard, in a word. */
function brief(m: CoordinatorMessage): string {
  switch (m.type) {
    case "vote":
      return m.vote === "yes" ? "yes" : `no:${m.reason}`;
    case "ack":
      return `ack:${m.decision}`;
    case "result":
      return `${m.step}:${m.outcome}${m.reason ? `:${m.reason}` : ""}`;
    case "waiting":
      return "waiting";
    case "released":
      return "released";
  }
}

const prepare = (txId: string, startedAt = FIRST, input: unknown = {}): PrepareMessage => ({
  type: "prepare",
  txId,
  participant: NAME,
  deadline: DEADLINE,
  startedAt,
  branches: [{ index: 0, action: "record", input }],
});
/** `startedAt` null: a decision of an older dispatcher, naming no incarnation. */
const decision = (type: "commit" | "rollback", txId: string, startedAt: number | null = FIRST) =>
  ({
    type,
    txId,
    participant: NAME,
    ...(startedAt === null ? {} : { startedAt }),
  }) as DecisionMessage;
const action = (txId: string, startedAt = FIRST, input: unknown = {}): ActionMessage => ({
  type: "action",
  txId,
  participant: NAME,
  branch: 1,
  action: "book",
  input,
  deadline: DEADLINE,
  startedAt,
});
const compensate = (txId: string, startedAt = FIRST, atomic = false): CompensateMessage => ({
  type: "compensate",
  txId,
  participant: NAME,
  branch: atomic ? 0 : 1,
  action: "unbook",
  input: {},
  startedAt,
  ...(atomic ? { atomic } : {}),
});

const services: [string, () => Service][] = [
  ["the hand-written test service", handWritten],
  ["a kit service (transactional)", () => onTheKit("transactional")],
  ["a kit service (own-io)", () => onTheKit("own-io")],
];

describe.each(services)("delivery faults against %s", (_name, make) => {
  it("duplicated 2PC messages: the same vote and ack each time, the commit applied once", async () => {
    const service = make();
    const { deliver } = rig(service);
    expect(await deliver(prepare("dup"))).toEqual(["yes"]);
    expect(await deliver(prepare("dup"))).toEqual(["yes"]);
    expect(await deliver(decision("commit", "dup"))).toEqual(["ack:commit"]);
    expect(await deliver(decision("commit", "dup"))).toEqual(["ack:commit"]);
    expect(await deliver(prepare("dup"))).toEqual(["yes"]);
    expect(await service.effects()).toEqual([effect("commit", "dup", FIRST)]);
    expect(await service.holding()).toEqual([]);
  });

  it("two copies of each 2PC message at the same time: one vote, one commit applied", async () => {
    const service = make();
    const { deliver } = rig(service);
    const votes = await Promise.all([deliver(prepare("twin")), deliver(prepare("twin"))]);
    // A copy that meets the other mid-step is asked to come again (re-queued): never a different vote.
    expect(votes.flat()).toContain("yes");
    expect(votes.flat().every((v) => v === "yes")).toBe(true);
    await Promise.all([deliver(decision("commit", "twin")), deliver(decision("commit", "twin"))]);
    expect(await deliver(decision("commit", "twin"))).toEqual(["ack:commit"]);
    expect(await service.effects()).toEqual([effect("commit", "twin", FIRST)]);
  });

  it("a refusal is remembered: a duplicate PREPARE votes the same no", async () => {
    const service = make();
    const { deliver } = rig(service);
    expect(await deliver(prepare("nay", FIRST, { [REFUSE]: true }))).toEqual(["no:limit_exceeded"]);
    // The coordinator counts the first vote; a duplicate must be a no too (its reason may be the barrier's).
    expect((await deliver(prepare("nay", FIRST, { [REFUSE]: true })))[0]).toMatch(/^no:/);
    expect(await deliver(decision("rollback", "nay"))).toEqual(["ack:abort"]);
    expect(await service.holding()).toEqual([]);
  });

  it("ROLLBACK before PREPARE: acknowledged, and the late PREPARE votes no and holds nothing", async () => {
    const service = make();
    const { deliver } = rig(service);
    expect(await deliver(decision("rollback", "early"))).toEqual(["ack:abort"]);
    const late = await deliver(prepare("early"));
    expect(late).toHaveLength(1);
    expect(late[0]).toMatch(/^no:/);
    expect(await deliver(decision("rollback", "early"))).toEqual(["ack:abort"]);
    expect(await service.holding()).toEqual([]);
    expect(await service.effects()).toEqual([]);
  });

  it("compensation before action: acknowledged, nothing undone, and the late action fails", async () => {
    const service = make();
    const { deliver } = rig(service);
    expect(await deliver(compensate("undo"))).toEqual(["compensation:done"]);
    expect(await deliver(action("undo"))).toEqual(["action:failed:compensated"]);
    expect(await deliver(compensate("undo"))).toEqual(["compensation:done"]);
    expect(await service.effects()).toEqual([]);
  });

  it("duplicated saga steps: the action and its compensation applied once each", async () => {
    const service = make();
    const { deliver } = rig(service);
    expect(await deliver(action("steps"))).toEqual(["action:done"]);
    expect(await deliver(action("steps"))).toEqual(["action:done"]);
    expect(await deliver(compensate("steps"))).toEqual(["compensation:done"]);
    expect(await deliver(compensate("steps"))).toEqual(["compensation:done"]);
    // An action arriving after its own compensation never runs again.
    expect(await deliver(action("steps"))).toEqual(["action:failed:compensated"]);
    expect(await service.effects()).toEqual([
      effect("action", "steps", FIRST, 1),
      effect("compensation", "steps", FIRST, 1),
    ]);
  });

  it("a PREPARE whose answer was lost, its copy past the deadline: no call, no vote; the ROLLBACK releases it", async () => {
    const service = make();
    const { deliver, requeued } = rig(service);
    service.dieAfterNextWrite();
    expect(await deliver(prepare("slow"))).toEqual([]);
    expect(requeued).toHaveLength(1);
    now = DEADLINE + 1;
    expect(await deliver(requeued[0] as ParticipantMessage)).toEqual([]);
    expect(await service.holding()).toHaveLength(1);
    expect(await deliver(decision("rollback", "slow"))).toEqual(["ack:abort"]);
    expect(await service.holding()).toEqual([]);
    expect(await service.effects()).toEqual([]);
  });

  it("an action past its deadline is not called: it fails, and its compensation undoes nothing", async () => {
    const service = make();
    const { deliver } = rig(service);
    now = DEADLINE;
    expect(await deliver(action("late"))).toEqual(["action:failed:timeout"]);
    expect(await deliver(compensate("late"))).toEqual(["compensation:done"]);
    expect(await deliver(action("late"))).toEqual(["action:failed:timeout"]);
    expect(await service.effects()).toEqual([]);
  });

  it.each([
    ["PREPARE", [prepare("crash")], [decision("commit", "crash")], ["yes", "ack:commit"]],
    ["COMMIT", [prepare("crash")], [decision("commit", "crash")], ["yes", "ack:commit"]],
    ["an action", [action("crash")], [compensate("crash")], ["action:done", "compensation:done"]],
    ["a compensation", [action("crash")], [compensate("crash")], ["action:done", "compensation:done"]],
  ] as const)(
    "the service dies after the write of %s, before its answer: the re-sent message gets the same answer, applied once",
    async (what, first, second, answers) => {
      const service = make();
      const { deliver } = rig(service);
      // Which message's answer is lost: the first for PREPARE and an action, the second otherwise.
      const dyingAt = what === "PREPARE" || what === "an action" ? 0 : 1;
      const messages = [...first, ...second];
      const heard: string[] = [];
      for (const [i, m] of messages.entries()) {
        if (i === dyingAt) {
          service.dieAfterNextWrite();
          // Nothing final: a 2PC message is re-queued, a saga step's result is "retry".
          expect(await deliver(m)).toEqual(
            m.type === "prepare" || m.type === "commit"
              ? []
              : [`${m.type === "action" ? "action" : "compensation"}:retry:http_timeout`],
          );
        }
        heard.push(...(await deliver(m)));
      }
      expect(heard).toEqual(answers);
      const expected =
        first[0]?.type === "prepare"
          ? [effect("commit", "crash", FIRST)]
          : [effect("action", "crash", FIRST, 1), effect("compensation", "crash", FIRST, 1)];
      expect(await service.effects()).toEqual(expected);
      expect(await service.holding()).toEqual([]);
    },
  );

  it("a ROLLBACK whose answer was lost, sent again: acknowledged; a late PREPARE still votes no", async () => {
    const service = make();
    const { deliver } = rig(service);
    service.dieAfterNextWrite();
    expect(await deliver(decision("rollback", "lost"))).toEqual([]);
    expect(await deliver(decision("rollback", "lost"))).toEqual(["ack:abort"]);
    expect((await deliver(prepare("lost")))[0]).toMatch(/^no:/);
    expect(await service.holding()).toEqual([]);
  });

  it("a reused id: the new transaction's early ROLLBACK never meets the old one's commit, its late PREPARE votes no", async () => {
    const service = make();
    const { deliver } = rig(service);
    expect(await deliver(prepare("again", FIRST))).toEqual(["yes"]);
    expect(await deliver(decision("commit", "again", FIRST))).toEqual(["ack:commit"]);
    expect(await deliver(decision("rollback", "again", SECOND))).toEqual(["ack:abort"]);
    expect((await deliver(prepare("again", SECOND)))[0]).toMatch(/^no:/);
    // A copy of the old transaction's COMMIT, late: still its own answer, applied once.
    expect(await deliver(decision("commit", "again", FIRST))).toEqual(["ack:commit"]);
    expect(await service.effects()).toEqual([effect("commit", "again", FIRST)]);
    expect(await service.holding()).toEqual([]);
  });

  it("a reused id: the new transaction prepares and commits afresh after the old one rolled back", async () => {
    const service = make();
    const { deliver } = rig(service);
    expect(await deliver(prepare("anew", FIRST))).toEqual(["yes"]);
    expect(await deliver(decision("rollback", "anew", FIRST))).toEqual(["ack:abort"]);
    expect(await deliver(prepare("anew", SECOND))).toEqual(["yes"]);
    expect(await deliver(decision("commit", "anew", SECOND))).toEqual(["ack:commit"]);
    // The old transaction's late PREPARE finds its own rolled-back barrier.
    expect((await deliver(prepare("anew", FIRST)))[0]).toMatch(/^no:/);
    expect(await service.effects()).toEqual([effect("commit", "anew", SECOND)]);
    expect(await service.holding()).toEqual([]);
  });

  it("a reused id in a saga: the new saga's compensation undoes nothing of the old saga's step", async () => {
    const service = make();
    const { deliver } = rig(service);
    expect(await deliver(action("saga", FIRST))).toEqual(["action:done"]);
    expect(await deliver(compensate("saga", SECOND))).toEqual(["compensation:done"]);
    expect(await deliver(action("saga", SECOND))).toEqual(["action:failed:compensated"]);
    expect(await service.effects()).toEqual([effect("action", "saga", FIRST, 1)]);
  });

  it("a decision naming no incarnation (an older dispatcher's) goes to the newest one held", async () => {
    const service = make();
    const { deliver } = rig(service);
    expect(await deliver(prepare("old", FIRST))).toEqual(["yes"]);
    expect(await deliver(decision("rollback", "old", FIRST))).toEqual(["ack:abort"]);
    expect(await deliver(prepare("old", SECOND))).toEqual(["yes"]);
    expect(await deliver(decision("commit", "old", null))).toEqual(["ack:commit"]);
    expect(await service.effects()).toEqual([effect("commit", "old", SECOND)]);
    expect(await service.holding()).toEqual([]);
  });

  it("an atomic stage's compensation: asked again while undecided, undoes what the commit applied, once", async () => {
    const service = make();
    const { deliver } = rig(service);
    expect(await deliver(prepare("stage"))).toEqual(["yes"]);
    expect(await deliver(compensate("stage", FIRST, true))).toEqual(["compensation:retry:http_503"]);
    expect(await deliver(decision("commit", "stage"))).toEqual(["ack:commit"]);
    expect(await deliver(compensate("stage", FIRST, true))).toEqual(["compensation:done"]);
    expect(await deliver(compensate("stage", FIRST, true))).toEqual(["compensation:done"]);
    expect(await service.effects()).toEqual([
      effect("commit", "stage", FIRST),
      effect("compensation", "stage", FIRST, 0),
    ]);
  });

  it("an atomic stage's compensation before its PREPARE: undoes nothing, and the late PREPARE votes no", async () => {
    const service = make();
    const { deliver } = rig(service);
    expect(await deliver(compensate("gone", FIRST, true))).toEqual(["compensation:done"]);
    expect((await deliver(prepare("gone")))[0]).toMatch(/^no:/);
    expect(await service.holding()).toEqual([]);
    expect(await service.effects()).toEqual([]);
  });
});
