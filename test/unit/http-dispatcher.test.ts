/**
 * The dispatcher's rules: what each answer of an HTTP participant means at
 * each endpoint, the exact request bodies and keys, and what the dispatcher
 * sends on (vote, ack, result, the message again, delayed) — with the calls
 * and the bus stubbed, so every case is exact.
 */
import { describe, expect, it } from "vitest";
import type { ParticipantMessage } from "../../src/core/messages.ts";
import { createDispatcher } from "../../src/http-participants/dispatcher.ts";
import type { CallOutcome, HttpCall } from "../../src/http-participants/http-call.ts";
import {
  type CallMessage,
  type Endpoint,
  idempotencyKey,
  MAX_REQUEUES,
  reasonFrom,
  requestBody,
  requeueDelaySeconds,
  verdictOf,
} from "../../src/http-participants/http-protocol.ts";
import { type HttpParticipant, rememberingRegistry } from "../../src/http-participants/registry.ts";
import type { MessageBus, SendOptions } from "../../src/ports/message-bus.ts";
import { type LogEntry, RecordingLogger } from "../../testkit/logging.ts";

/** Records what the dispatcher sends, with the send options (a re-queue's delay). */
function recording() {
  const sent: { to: string; message: unknown; options?: SendOptions }[] = [];
  const bus: MessageBus = {
    async toCoordinator(message) {
      sent.push({ to: "coordinator", message });
    },
    async toParticipant(to, message, options) {
      sent.push({ to, message, ...(options ? { options } : {}) });
    },
  };
  return Object.assign(bus, { sent });
}

const status = (s: number, body = ""): CallOutcome => ({ kind: "response", status: s, body });
const timeout: CallOutcome = { kind: "timeout" };
const down: CallOutcome = { kind: "unreachable", reason: "ECONNREFUSED" };
const unknownTransaction = '{"error":{"code":"unknown_transaction","message":"never seen"}}';

describe("what an answer means", () => {
  it.each<[Endpoint, CallOutcome, string]>([
    ["prepare", status(200), "yes"],
    ["prepare", status(204), "yes"],
    ["prepare", status(409), "no"],
    ["prepare", status(422), "no"],
    ["prepare", status(400), "retry"],
    ["prepare", status(404), "retry"],
    ["prepare", status(500), "retry"],
    ["prepare", status(503), "retry"],
    ["prepare", status(302), "retry"],
    ["prepare", timeout, "retry"],
    ["prepare", down, "retry"],
    ["commit", status(200), "yes"],
    ["commit", status(409), "retry"],
    ["commit", status(404), "retry"],
    ["commit", timeout, "retry"],
    ["rollback", status(200), "yes"],
    ["rollback", status(404, unknownTransaction), "yes"],
    // A 404 that is not the service's explicit answer may be a gateway's: the service may hold locks.
    ["rollback", status(404), "retry"],
    ["rollback", status(404, "<html>Not Found</html>"), "retry"],
    ["rollback", status(404, '{"error":{"code":"not_found"}}'), "retry"],
    ["rollback", status(404, '{"reason":"unknown_transaction"}'), "retry"],
    ["rollback", status(409), "yes"],
    ["rollback", status(500), "retry"],
    ["rollback", down, "retry"],
    ["action", status(201), "yes"],
    ["action", status(409), "no"],
    ["action", status(422), "no"],
    ["action", status(500), "retry"],
    ["action", timeout, "retry"],
    ["compensate", status(200), "yes"],
    ["compensate", status(409), "retry"],
    ["compensate", status(500), "retry"],
    ["compensate", down, "retry"],
  ])("%s answered %o is %s", (endpoint, outcome, kind) => {
    expect(verdictOf(endpoint, outcome).kind).toBe(kind);
  });

  it("names why a call must be made again", () => {
    expect(verdictOf("prepare", timeout)).toEqual({ kind: "retry", reason: "http_timeout" });
    expect(verdictOf("action", status(503))).toEqual({ kind: "retry", reason: "http_503" });
    expect(verdictOf("commit", down)).toEqual({ kind: "retry", reason: "http_unreachable: ECONNREFUSED" });
    expect(verdictOf("commit", status(409, '{"reason":"unknown_tx"}'))).toEqual({
      kind: "retry",
      reason: "http_409: unknown_tx",
    });
  });

  it("takes the reason of a refusal from its body, cut to 200 characters", () => {
    expect(reasonFrom(409, '{"reason":"limit_exceeded","branch":2}')).toEqual({
      reason: "limit_exceeded",
      branch: 2,
    });
    expect(reasonFrom(422, '{"error":{"code":"bad_seat","message":"x"}}')).toEqual({ reason: "bad_seat" });
    expect(reasonFrom(422, '"sold out"')).toEqual({ reason: "sold out" });
    expect(reasonFrom(409, "plain\ntext refusal")).toEqual({ reason: "plain text refusal" });
    expect(reasonFrom(409, "")).toEqual({ reason: "http_409" });
    expect(reasonFrom(409, "{}")).toEqual({ reason: "http_409" });
    expect(reasonFrom(409, JSON.stringify({ reason: "x".repeat(1000) })).reason).toHaveLength(200);
    expect(reasonFrom(409, '{"reason":"r","branch":-1}')).toEqual({ reason: "r" });
  });
});

const prepare: CallMessage = {
  type: "prepare",
  txId: "tx-1",
  participant: "ledger",
  deadline: Date.UTC(2030, 0, 1),
  startedAt: Date.UTC(2029, 11, 31),
  branches: [{ index: 1, action: "record", input: { entry: 7 } }],
};
const commit: CallMessage = { type: "commit", txId: "tx-1", participant: "ledger" };
const rollback: CallMessage = { type: "rollback", txId: "tx-1", participant: "ledger" };
const action: CallMessage = {
  type: "action",
  txId: "tx-2",
  participant: "ledger",
  branch: 3,
  action: "book",
  input: { n: 1 },
  deadline: Date.UTC(2030, 0, 1),
  startedAt: Date.UTC(2029, 11, 31),
};
const compensate: CallMessage = {
  type: "compensate",
  txId: "tx-2",
  participant: "ledger",
  branch: 3,
  action: "unbook",
  input: { n: 1 },
  startedAt: Date.UTC(2029, 11, 31),
};

describe("requests", () => {
  it("sends exactly what the contract names, per endpoint", () => {
    expect(requestBody(prepare)).toEqual({
      txId: "tx-1",
      participant: "ledger",
      branches: [{ branch: 1, action: "record", input: { entry: 7 } }],
      deadline: "2030-01-01T00:00:00.000Z",
      startedAt: "2029-12-31T00:00:00.000Z",
    });
    expect(requestBody(commit)).toEqual({ txId: "tx-1", participant: "ledger" });
    expect(requestBody({ ...commit, retries: 3 })).toEqual({ txId: "tx-1", participant: "ledger" });
    expect(requestBody(action)).toEqual({
      txId: "tx-2",
      participant: "ledger",
      branch: 3,
      action: "book",
      input: { n: 1 },
      deadline: "2030-01-01T00:00:00.000Z",
      startedAt: "2029-12-31T00:00:00.000Z",
    });
    expect(requestBody({ ...commit, startedAt: Date.UTC(2029, 11, 31) })).toEqual({
      txId: "tx-1",
      participant: "ledger",
      startedAt: "2029-12-31T00:00:00.000Z",
    });
    expect(requestBody({ ...compensate, atomic: true } as CallMessage)).toMatchObject({
      action: "unbook",
      atomic: true,
    });
  });

  it("keys every step apart, and every copy of one step the same", () => {
    const started = Date.UTC(2029, 11, 31);
    const keys = [prepare, commit, rollback, action, compensate].map(idempotencyKey);
    expect(keys).toEqual([
      `tx-1/ledger/prepare/${started}`,
      // A decision of an older version names no incarnation: the key it always had.
      "tx-1/ledger/commit",
      "tx-1/ledger/rollback",
      `tx-2/ledger/action/3/${started}`,
      `tx-2/ledger/compensate/3/${started}`,
    ]);
    expect(idempotencyKey({ ...(prepare as object), retries: 4 } as CallMessage)).toBe(keys[0]);
    expect(idempotencyKey({ ...commit, startedAt: started })).toBe(`tx-1/ledger/commit/${started}`);
  });

  it("keys each incarnation of an id apart: a service never answers a new transaction with an old one's answer", () => {
    const later = Date.UTC(2030, 5, 1);
    for (const message of [prepare, action, compensate, { ...rollback, startedAt: Date.UTC(2029, 11, 31) }]) {
      const again = { ...message, startedAt: later } as CallMessage;
      expect(idempotencyKey(again)).not.toBe(idempotencyKey(message));
      expect(idempotencyKey(again).endsWith(`/${later}`)).toBe(true);
    }
  });

  it("backs off 1, 2, 4, 8, 16 s between re-queues", () => {
    expect([0, 1, 2, 3, 4, 5, 9].map(requeueDelaySeconds)).toEqual([1, 2, 4, 8, 16, 16, 16]);
  });
});

const registered: HttpParticipant = {
  name: "ledger",
  baseUrl: "https://ledger.example/tx",
  protocols: ["2pc", "saga"],
  createdAt: 0,
  version: 1,
};

function setup(answers: CallOutcome[], options: { now?: number; allowedHosts?: string[] } = {}) {
  const bus = recording();
  const calls: HttpCall[] = [];
  const logged: LogEntry[] = [];
  const counted: string[] = [];
  let lookups = 0;
  const dispatcher = createDispatcher({
    registry: rememberingRegistry({
      get: async (name: string) => {
        lookups++;
        return name === "ledger" ? registered : undefined;
      },
      getMany: async () => new Map(),
    }),
    bus,
    call: async (call) => {
      calls.push(call);
      return answers.shift() ?? status(200);
    },
    policy: { allowedHosts: options.allowedHosts ?? [], allowPrivate: false },
    timeoutMs: 3000,
    clock: () => options.now ?? Date.UTC(2029, 11, 31, 12),
    log: new RecordingLogger((entry) => logged.push(entry)),
    metrics: {
      count: (name, labels) => counted.push(`${name} ${JSON.stringify(labels)}`),
      observe() {},
    },
  });
  return { dispatcher, bus, calls, logged, counted, lookups: () => lookups };
}

describe("the dispatcher", () => {
  it("votes yes on a 2xx, posting to {baseUrl}/prepare with the key and the time limit", async () => {
    const { dispatcher, bus, calls } = setup([status(200)]);
    await dispatcher.handle(prepare);
    expect(calls[0]?.url.href).toBe("https://ledger.example/tx/prepare");
    expect(calls[0]?.headers).toEqual({ "idempotency-key": `tx-1/ledger/prepare/${Date.UTC(2029, 11, 31)}` });
    expect(calls[0]?.timeoutMs).toBe(3000);
    expect(calls[0]?.body).toEqual(requestBody(prepare));
    expect(calls[0]?.allowPrivate).toBe(false);
    expect(bus.sent).toEqual([
      { to: "coordinator", message: { type: "vote", txId: "tx-1", participant: "ledger", vote: "yes" } },
    ]);
  });

  it("votes no with the participant's reason, blaming a branch only if it is one of this PREPARE's", async () => {
    const { dispatcher, bus } = setup([
      status(409, '{"reason":"limit","branch":1}'),
      status(409, '{"reason":"limit","branch":5}'),
    ]);
    await dispatcher.handle(prepare);
    await dispatcher.handle(prepare);
    expect(bus.sent.map((s) => s.message)).toEqual([
      { type: "vote", txId: "tx-1", participant: "ledger", vote: "no", reason: "limit", failedBranch: 1 },
      { type: "vote", txId: "tx-1", participant: "ledger", vote: "no", reason: "limit" },
    ]);
  });

  it("puts a failed PREPARE back on the queue, delayed and counted, and logs each retry", async () => {
    const { dispatcher, bus, logged } = setup([status(500), timeout]);
    await dispatcher.handle(prepare);
    await dispatcher.handle({ ...prepare, retries: 1 } as ParticipantMessage);
    expect(bus.sent).toEqual([
      { to: "ledger", message: { ...prepare, retries: 1 }, options: { delaySeconds: 1 } },
      { to: "ledger", message: { ...prepare, retries: 2 }, options: { delaySeconds: 2 } },
    ]);
    expect(logged.filter((l) => l.level === "warn").map((l) => l.fields)).toEqual([
      expect.objectContaining({ attempt: 1, reason: "http_500", delaySeconds: 1 }),
      expect.objectContaining({ attempt: 2, reason: "http_timeout", delaySeconds: 2 }),
    ]);
  });

  it(`stops re-queueing a copy after ${MAX_REQUEUES} times, or when the deadline comes first, and says so`, async () => {
    const late = setup([status(500)], { now: prepare.type === "prepare" ? prepare.deadline - 500 : 0 });
    await late.dispatcher.handle(prepare);
    expect(late.bus.sent).toEqual([]);
    expect(late.logged).toContainEqual(
      expect.objectContaining({ level: "warn", message: expect.stringMatching(/sweeper sends/) }),
    );
    // The last re-queue still happens; the one after it does not.
    const last = setup([status(500)]);
    await last.dispatcher.handle({ ...commit, retries: MAX_REQUEUES - 1 } as ParticipantMessage);
    expect(last.bus.sent.map((s) => s.message)).toEqual([{ ...commit, retries: MAX_REQUEUES }]);
    const tired = setup([status(500)]);
    await tired.dispatcher.handle({ ...commit, retries: MAX_REQUEUES } as ParticipantMessage);
    expect(tired.calls).toHaveLength(1);
    expect(tired.bus.sent).toEqual([]);
    expect(tired.logged).toContainEqual(
      expect.objectContaining({
        level: "warn",
        fields: expect.objectContaining({ attempt: MAX_REQUEUES + 1 }),
      }),
    );
  });

  it("sends no vote for a PREPARE past its deadline and does not call: an earlier copy may have prepared the service", async () => {
    // A no vote would excuse the participant from the ROLLBACK; silent, it gets the
    // deadline abort's ROLLBACK like any participant that has not voted.
    const { dispatcher, bus, calls } = setup([], { now: Date.UTC(2031, 0, 1) });
    await dispatcher.handle(prepare);
    await dispatcher.handle({ ...(prepare as object), retries: 2 } as ParticipantMessage);
    expect(calls).toEqual([]);
    expect(bus.sent).toEqual([]);
  });

  it("fails an action past its deadline without calling; the saga still sends it the compensation", async () => {
    const { dispatcher, bus, calls } = setup([], { now: Date.UTC(2031, 0, 1) });
    await dispatcher.handle(action);
    expect(calls).toEqual([]);
    expect(bus.sent.map((s) => s.message)).toEqual([
      {
        type: "result",
        txId: "tx-2",
        participant: "ledger",
        branch: 3,
        step: "action",
        outcome: "failed",
        reason: "timeout",
      },
    ]);
  });

  it("puts a rollback answered by a bare 404 back on the queue: only the service's unknown_transaction acknowledges", async () => {
    const { dispatcher, bus } = setup([status(404, "Not Found"), status(404, unknownTransaction)]);
    await dispatcher.handle(rollback);
    await dispatcher.handle({ ...rollback, retries: 1 } as ParticipantMessage);
    expect(bus.sent).toEqual([
      { to: "ledger", message: { ...rollback, retries: 1 }, options: { delaySeconds: 1 } },
      { to: "coordinator", message: { type: "ack", txId: "tx-1", participant: "ledger", decision: "abort" } },
    ]);
  });

  it("acknowledges a commit on 2xx and a rollback on 2xx, 409 or an explicit unknown_transaction 404; re-queues a refused commit with an error log", async () => {
    const { dispatcher, bus, logged } = setup([status(200), status(404, unknownTransaction), status(409)]);
    await dispatcher.handle(commit);
    await dispatcher.handle(rollback);
    await dispatcher.handle(commit);
    expect(bus.sent).toEqual([
      {
        to: "coordinator",
        message: { type: "ack", txId: "tx-1", participant: "ledger", decision: "commit" },
      },
      { to: "coordinator", message: { type: "ack", txId: "tx-1", participant: "ledger", decision: "abort" } },
      { to: "ledger", message: { ...commit, retries: 1 }, options: { delaySeconds: 1 } },
    ]);
    expect(logged).toContainEqual(
      expect.objectContaining({
        level: "error",
        fields: expect.objectContaining({ metric: "CommitRefused" }),
      }),
    );
  });

  it("answers a saga step with done, failed (409/422) or retry, and a compensation with done or retry", async () => {
    const { dispatcher, bus } = setup([
      status(200),
      status(422, '{"reason":"sold_out"}'),
      status(502),
      status(200),
      status(409),
    ]);
    for (const m of [action, action, action, compensate, compensate]) await dispatcher.handle(m);
    const result = (step: string, outcome: string, reason?: string) => ({
      type: "result",
      txId: "tx-2",
      participant: "ledger",
      branch: 3,
      step,
      outcome,
      ...(reason ? { reason } : {}),
    });
    expect(bus.sent.map((s) => s.message)).toEqual([
      result("action", "done"),
      result("action", "failed", "sold_out"),
      result("action", "retry", "http_502"),
      result("compensation", "done"),
      result("compensation", "retry", "http_409"),
    ]);
  });

  it("does not call a URL the policy refuses now, and reports the step for retry", async () => {
    const { dispatcher, bus, calls, logged } = setup([], { allowedHosts: ["elsewhere.example"] });
    await dispatcher.handle(compensate);
    expect(calls).toEqual([]);
    expect(bus.sent[0]?.message).toMatchObject({
      outcome: "retry",
      reason: expect.stringMatching(/refused by policy/),
    });
    expect(logged[0]?.level).toBe("error");
  });

  it("makes no call and sends nothing for a saga's finished message: a service keeps its own records", async () => {
    const { dispatcher, bus, calls, lookups } = setup([]);
    const finished = { type: "finished", txId: "tx-2", participant: "ledger", startedAt: 1, branches: [3] };
    await dispatcher.handle(finished as ParticipantMessage);
    await dispatcher.handle({ ...finished, participant: "ghost" } as ParticipantMessage);
    expect(calls).toEqual([]);
    expect(bus.sent).toEqual([]);
    expect(lookups()).toBe(0);
  });

  it("refuses a PREPARE or an action for an unregistered participant, and fails a decision for one", async () => {
    const { dispatcher, bus } = setup([]);
    await dispatcher.handle({ ...prepare, participant: "ghost" } as ParticipantMessage);
    await dispatcher.handle({ ...action, participant: "ghost" } as ParticipantMessage);
    await expect(
      dispatcher.handle({ ...commit, participant: "ghost" } as ParticipantMessage),
    ).rejects.toThrow(/no HTTP participant ghost/);
    expect(bus.sent.map((s) => s.message)).toEqual([
      expect.objectContaining({ type: "vote", vote: "no", reason: "unknown_participant" }),
      expect.objectContaining({ type: "result", outcome: "failed", reason: "unknown_participant" }),
    ]);
  });

  it("remembers registrations across get and getMany, and asks again for names not found", async () => {
    const asked: string[][] = [];
    const registry = rememberingRegistry({
      get: async (name: string) => {
        asked.push([name]);
        return name === "ledger" ? registered : undefined;
      },
      getMany: async (names: readonly string[]) => {
        asked.push([...names]);
        return new Map(names.includes("ledger") ? [["ledger", registered]] : []);
      },
    });
    expect([...(await registry.getMany(["ledger", "ghost"])).keys()]).toEqual(["ledger"]);
    expect(await registry.get("ledger")).toEqual(registered);
    expect(await registry.get("ghost")).toBeUndefined();
    expect([...(await registry.getMany(["ledger", "ghost"])).keys()]).toEqual(["ledger"]);
    expect(asked).toEqual([["ledger", "ghost"], ["ghost"], ["ghost"]]);
  });

  it("counts each call by participant and outcome, and nothing for a call it did not make", async () => {
    const { dispatcher, counted } = setup([
      status(200),
      status(409, '{"reason":"limit"}'),
      timeout,
      status(500),
    ]);
    for (const m of [prepare, prepare, prepare, commit]) await dispatcher.handle(m as ParticipantMessage);
    // Past its deadline, no call is made.
    const late = setup([], { now: Date.UTC(2031, 0, 1) });
    await late.dispatcher.handle(prepare as ParticipantMessage);
    const calls = (outcome: string) =>
      `concord_http_calls_total ${JSON.stringify({ participant: "ledger", outcome })}`;
    expect(counted).toEqual([calls("ok"), calls("refused"), calls("failed"), calls("failed")]);
    expect(late.counted).toEqual([]);
  });

  it("reads a registration once per process: registrations never change", async () => {
    const { dispatcher, lookups } = setup([]);
    await dispatcher.handle(commit);
    await dispatcher.handle(commit);
    expect(lookups()).toBe(1);
  });
});
