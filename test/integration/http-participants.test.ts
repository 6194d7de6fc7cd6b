/**
 * HTTP participants end to end: small Hono services on 127.0.0.1 registered
 * through the API and named in 2PC transactions and sagas beside bank steps —
 * a healthy one, one that never answers (timeouts), one that fails twice with
 * 500 before it succeeds, one that refuses with 409 — and every message to
 * them delivered twice. Then the two ways a service could be left prepared:
 * a ROLLBACK answered by a gateway's bare 404, and a PREPARE whose answer was
 * lost arriving again after the deadline.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PrepareMessage } from "../../src/core/messages.ts";
import type { TransactionView } from "../../src/core/view.ts";
import type { MessageBus } from "../../src/ports/message-bus.ts";
import { duplicating } from "../helpers/buses.ts";
import { type HttpService, startHttpService, unknownTransaction } from "../helpers/http-service.ts";
import { eventually, type Stack, startStack } from "../helpers/stack.ts";

const ADMIN = "admin-key-for-http-tests";
const CLIENT = "client-key-for-http-tests";

let stack: Stack;
let ledger: HttpService;
let slowpoke: HttpService;
let flaky: HttpService;
let picky: HttpService;
/** Messages to HTTP participants are delivered twice while this is on. */
let duplicate = false;

async function call(method: string, path: string, body?: unknown, key = ADMIN) {
  const res = await stack.request(method, path, body, { authorization: `Bearer ${key}` });
  // biome-ignore lint/suspicious/noExplicitAny: tests read whatever JSON the API answered
  return { status: res.status, body: (await res.json()) as any };
}

const register = (name: string, url: string, protocols = ["2pc", "saga"]) =>
  call("POST", "/v1/participants", { name, baseUrl: url, protocols });

async function seed(server: string, account: string, balance: number) {
  const res = await call("PUT", `/v1/bank/${server}/accounts/${account}`, { balance });
  expect(res.status).toBe(200);
}

const balance = async (server: string, account: string) =>
  (await call("GET", `/v1/bank/${server}/accounts/${account}`)).body as {
    balance: number;
    lockedBy?: string;
  };

async function begin(body: unknown, wait = 10_000): Promise<TransactionView> {
  const res = await call("POST", `/v1/transactions?wait=${wait}`, body, CLIENT);
  expect([201, 202], JSON.stringify(res.body)).toContain(res.status);
  return res.body as TransactionView;
}

/** The idempotency key of one step of this transaction: it ends in the transaction's incarnation. */
const keyOf = (tx: TransactionView, step: string) => `${tx.id}/${step}/${Date.parse(tx.createdAt)}`;

const view = async (id: string) =>
  (await call("GET", `/v1/transactions/${id}`, undefined, CLIENT)).body as TransactionView;

const settled = (id: string, timeoutMs = 20_000) =>
  eventually(
    async () => {
      const v = await view(id);
      return ["committed", "aborted", "compensated"].includes(v.phase) ? v : undefined;
    },
    timeoutMs,
    `transaction ${id} to finish`,
  );

const onlyHttp = (bus: MessageBus): MessageBus => {
  const twice = duplicating(bus);
  const http = (p: string) => ["ledger", "slowpoke", "flaky", "picky"].includes(p);
  return {
    toCoordinator: (m) => bus.toCoordinator(m),
    toParticipant: (p, m, o) => (duplicate && http(p) ? twice : bus).toParticipant(p, m, o),
  };
};

beforeAll(async () => {
  [ledger, slowpoke, flaky, picky] = await Promise.all([
    startHttpService(),
    startHttpService(),
    startHttpService(),
    startHttpService(),
  ]);
  stack = await startStack({
    bankServers: ["bank-1", "bank-2"],
    wrapBus: onlyHttp,
    env: {
      CONCORD_COMMERCE_PARTICIPANTS: "none",
      CONCORD_API_KEYS: CLIENT,
      CONCORD_ADMIN_KEYS: ADMIN,
      CONCORD_HTTP_PARTICIPANT_ALLOW_PRIVATE: "true",
      CONCORD_HTTP_PARTICIPANT_HOSTS: "127.0.0.1",
      CONCORD_HTTP_TIMEOUT_MS: "300",
      CONCORD_PREPARE_RETRY_MS: "300",
      CONCORD_DECISION_RETRY_MS: "300",
      CONCORD_BACKOFF_CAP_MS: "1500",
    },
  });
  for (const [name, service] of [
    ["ledger", ledger],
    ["slowpoke", slowpoke],
    ["flaky", flaky],
    ["picky", picky],
  ] as const) {
    expect((await register(name, service.url)).status).toBe(201);
  }
});

afterAll(async () => {
  await stack?.stop();
  await Promise.all([ledger, slowpoke, flaky, picky].map((s) => s?.stop()));
});

describe("registering an HTTP participant", () => {
  it("answers a repeated identical registration with the record, and a different one with 409", async () => {
    const again = await register("ledger", ledger.url);
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({
      name: "ledger",
      baseUrl: ledger.url,
      protocols: ["2pc", "saga"],
      version: 1,
    });
    const moved = await register("ledger", `${ledger.url}/v2`);
    expect(moved.status).toBe(409);
    expect(moved.body.error.code).toBe("conflict");
    expect(moved.body.error.details.registered.baseUrl).toBe(ledger.url);
  });

  it("lists and reads registrations, admin only", async () => {
    const list = await call("GET", "/v1/participants");
    expect(list.status).toBe(200);
    expect(list.body.participants.map((p: { name: string }) => p.name).sort()).toEqual([
      "flaky",
      "ledger",
      "picky",
      "slowpoke",
    ]);
    const page = await call("GET", "/v1/participants?limit=3");
    expect(page.body.participants).toHaveLength(3);
    const rest = await call("GET", `/v1/participants?limit=3&cursor=${page.body.nextCursor}`);
    expect(rest.body.participants).toHaveLength(1);
    expect(rest.body.nextCursor).toBeUndefined();
    expect((await call("GET", "/v1/participants/picky")).body.baseUrl).toBe(picky.url);
    expect((await call("GET", "/v1/participants/nobody")).status).toBe(404);
    expect((await call("GET", "/v1/participants", undefined, CLIENT)).status).toBe(403);
    expect(
      (await call("POST", "/v1/participants", { name: "x", baseUrl: ledger.url, protocols: ["2pc"] }, CLIENT))
        .status,
    ).toBe(403);
  });

  it("refuses built-in names, other schemes, credentials and hosts off the allowlist, and stores nothing", async () => {
    expect((await register("bank-1", ledger.url)).status).toBe(409);
    expect((await register("inventory", ledger.url)).body.error.message).toMatch(/built-in participant/);
    for (const url of [
      "ftp://127.0.0.1/x",
      "http://user:pw@127.0.0.1:1/",
      "http://10.0.0.1/",
      "http://localhost:1/",
    ]) {
      const res = await register("elsewhere", url);
      expect(res.status, url).toBe(400);
      expect(res.body.error.details[0].path).toBe("baseUrl");
    }
    expect((await call("GET", "/v1/participants/elsewhere")).status).toBe(404);
  });
});

describe("2PC with an HTTP participant", () => {
  it("commits with a healthy participant: prepare, then commit, both with the transaction's keys", async () => {
    await seed("bank-1", "alice", 1000);
    const tx = await begin({
      protocol: "2pc",
      branches: [
        { participant: "bank-1", action: "withdraw", input: { account: "alice", amount: 100 } },
        { participant: "ledger", action: "record", input: { entry: "alice -100" } },
      ],
    });
    expect(tx.status).toBe("committed");
    await settled(tx.id);
    expect((await balance("bank-1", "alice")).balance).toBe(900);
    const [prepare] = ledger.calls.filter((c) => c.body.txId === tx.id && c.endpoint === "prepare");
    expect(prepare?.key).toBe(keyOf(tx, "ledger/prepare"));
    expect(prepare?.body).toMatchObject({
      txId: tx.id,
      participant: "ledger",
      branches: [{ branch: 1, action: "record", input: { entry: "alice -100" } }],
    });
    expect(ledger.applied.has(keyOf(tx, "ledger/commit"))).toBe(true);
  });

  it("carries the client's trace through the queues to the service: its prepare and commit name the same trace", async () => {
    await seed("bank-1", "tracy", 100);
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const res = await stack.request(
      "POST",
      "/v1/transactions?wait=10000",
      {
        protocol: "2pc",
        branches: [
          { participant: "bank-1", action: "withdraw", input: { account: "tracy", amount: 10 } },
          { participant: "ledger", action: "record", input: { entry: "tracy -10" } },
        ],
      },
      { authorization: `Bearer ${CLIENT}`, traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
    );
    const tx = (await res.json()) as TransactionView;
    // The API answers with the span it continued the trace in.
    expect(res.headers.get("traceparent")).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
    await settled(tx.id);
    const calls = ledger.calls.filter((c) => c.body.txId === tx.id);
    // PREPARE went API → dispatcher's queue; COMMIT went vote → coordinator's queue → dispatcher's.
    expect(calls.map((c) => c.endpoint)).toEqual(expect.arrayContaining(["prepare", "commit"]));
    for (const c of calls)
      expect(c.traceparent, c.endpoint).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
  });

  it("starts a trace when the client sends none (or a malformed one)", async () => {
    const tx = await begin({
      protocol: "2pc",
      branches: [{ participant: "ledger", action: "record", input: { entry: "untraced" } }],
    });
    await settled(tx.id);
    const [prepare] = ledger.calls.filter((c) => c.body.txId === tx.id && c.endpoint === "prepare");
    expect(prepare?.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  });

  it("aborts everything when the participant votes no (409), with its reason reaching the client", async () => {
    await seed("bank-1", "bea", 500);
    picky.answer("prepare", () => ({ status: 409, body: { reason: "limit_exceeded" } }));
    const tx = await begin({
      protocol: "2pc",
      branches: [
        { participant: "bank-1", action: "withdraw", input: { account: "bea", amount: 100 } },
        { participant: "picky", action: "record", input: {} },
      ],
    });
    expect(tx.status).toBe("aborted");
    expect(tx.reason).toBe("limit_exceeded");
    expect(tx.branches[1]).toMatchObject({ participant: "picky", vote: "no", reason: "limit_exceeded" });
    await settled(tx.id);
    expect(await balance("bank-1", "bea")).toMatchObject({ balance: 500 });
    expect((await balance("bank-1", "bea")).lockedBy).toBeUndefined();
  });

  it("retries a participant that never answers, aborts at the deadline, and rolls it back once it answers", async () => {
    await seed("bank-1", "cyd", 300);
    slowpoke.answer("prepare", () => "hang");
    slowpoke.answer("rollback", () => "hang");
    const tx = await begin(
      {
        protocol: "2pc",
        timeoutMs: 2000,
        branches: [
          { participant: "bank-1", action: "withdraw", input: { account: "cyd", amount: 100 } },
          { participant: "slowpoke", action: "record", input: {} },
        ],
      },
      0,
    );
    const aborted = await eventually(async () => {
      const v = await view(tx.id);
      return v.status === "aborted" ? v : undefined;
    });
    expect(aborted.reason).toBe("timeout");
    expect(slowpoke.callsTo("prepare").filter((c) => c.body.txId === tx.id).length).toBeGreaterThanOrEqual(2);
    // bank-1 rolled back and let go of the account while the service still does not answer.
    await eventually(async () =>
      (await balance("bank-1", "cyd")).lockedBy === undefined ? true : undefined,
    );
    // The coordinator keeps sending the ROLLBACK to the service that does not answer. Waited
    // for before the service answers: its first delivery, retried, may otherwise be the one that lands.
    const resending = await eventually(async () => {
      const v = await view(tx.id);
      return v.events.some((e) => e.type === "decision_resent") ? v : undefined;
    });
    expect(resending.phase).toBe("aborting");
    slowpoke.answer("rollback", () => ({ status: 200 }));
    const done = await settled(tx.id);
    expect(done.phase).toBe("aborted");
    expect((await balance("bank-1", "cyd")).balance).toBe(300);
  });
});

/** A saga step at a bank server, undone by depositing the amount back. */
const withdrawal = (participant: string, account: string, amount: number) => ({
  participant,
  action: "withdraw",
  input: { account, amount },
  compensation: { action: "deposit", input: { account, amount } },
});

/** A saga step at an HTTP participant, undone by `undo` with the same input. */
const httpStep = (participant: string, action: string, undo: string, input: object = {}) => ({
  participant,
  action,
  input,
  compensation: { action: undo, input },
});

describe("sagas with an HTTP participant", () => {
  it("runs a saga across a bank step and a healthy HTTP step", async () => {
    await seed("bank-1", "dan", 200);
    const tx = await begin({
      protocol: "saga",
      branches: [withdrawal("bank-1", "dan", 50), httpStep("ledger", "book", "unbook", { amount: 50 })],
    });
    expect(tx).toMatchObject({ status: "committed", phase: "committed" });
    const [action] = ledger.callsTo("action").filter((c) => c.body.txId === tx.id);
    expect(action?.key).toBe(keyOf(tx, "ledger/action/1"));
    expect(action?.body).toMatchObject({ branch: 1, action: "book", input: { amount: 50 } });
    expect((await balance("bank-1", "dan")).balance).toBe(150);
  });

  it("retries a compensation that fails twice (500) until it succeeds, the attempts visible in the view", async () => {
    await seed("bank-1", "eve", 400);
    await seed("bank-2", "fay", 0);
    flaky.answer("compensate", (n) => (n <= 2 ? { status: 500 } : { status: 200 }));
    const tx = await begin({
      protocol: "saga",
      branches: [
        withdrawal("bank-1", "eve", 100),
        httpStep("flaky", "reserve", "release", { seats: 2 }),
        // Fails: fay has nothing to withdraw.
        withdrawal("bank-2", "fay", 100),
      ],
    });
    const done = await settled(tx.id);
    expect(done).toMatchObject({ status: "aborted", phase: "compensated", reason: "insufficient_funds" });
    expect(done.branches[1]).toMatchObject({ participant: "flaky", state: "compensated" });
    expect(done.branches[1]?.attempts).toBeGreaterThanOrEqual(2);
    expect(done.events).toContainEqual(
      expect.objectContaining({
        type: "step_result",
        branch: 1,
        step: "compensation",
        outcome: "retry",
        reason: "http_500",
      }),
    );
    expect(done.events.some((e) => e.type === "compensation_resent")).toBe(true);
    expect(flaky.callsTo("compensate").length).toBeGreaterThanOrEqual(3);
    expect(flaky.applied.has(keyOf(tx, "flaky/compensate/1"))).toBe(true);
    expect((await balance("bank-1", "eve")).balance).toBe(400);
  });

  it("compensates the bank step when the HTTP action is refused (422), with its reason", async () => {
    await seed("bank-1", "gus", 250);
    picky.answer("action", () => ({ status: 422, body: "no such seat" }));
    const tx = await begin({
      protocol: "saga",
      branches: [withdrawal("bank-1", "gus", 50), httpStep("picky", "reserve", "release")],
    });
    const done = await settled(tx.id);
    expect(done).toMatchObject({ status: "aborted", phase: "compensated", reason: "no such seat" });
    expect(done.branches[1]).toMatchObject({ state: "failed", reason: "no such seat" });
    expect((await balance("bank-1", "gus")).balance).toBe(250);
  });

  it("refuses a branch the participant's protocols do not cover, and an unknown participant", async () => {
    expect((await register("twophase", ledger.url, ["2pc"])).status).toBe(201);
    const res = await call(
      "POST",
      "/v1/transactions",
      {
        protocol: "saga",
        branches: [
          {
            participant: "twophase",
            action: "book",
            input: {},
            compensation: { action: "unbook", input: {} },
          },
          {
            participant: "nobody-here",
            action: "book",
            input: {},
            compensation: { action: "unbook", input: {} },
          },
        ],
      },
      CLIENT,
    );
    expect(res.status).toBe(400);
    expect(res.body.error.details).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          path: "branches.0.participant",
          message: expect.stringMatching(/needs saga/),
        }),
        expect.objectContaining({
          path: "branches.1.participant",
          message: 'unknown participant "nobody-here"',
        }),
      ]),
    );
  });
});

describe("duplicated delivery to the dispatcher", () => {
  it("gives the same outcome: one commit applied, the same keys on every copy", async () => {
    await seed("bank-2", "hal", 100);
    duplicate = true;
    try {
      const tx = await begin({
        protocol: "2pc",
        branches: [
          { participant: "bank-2", action: "deposit", input: { account: "hal", amount: 10 } },
          { participant: "ledger", action: "record", input: { entry: "hal +10" } },
        ],
      });
      expect(tx.status).toBe("committed");
      await settled(tx.id);
      const mine = ledger.calls.filter((c) => c.body.txId === tx.id);
      expect(mine.filter((c) => c.endpoint === "prepare").length).toBeGreaterThanOrEqual(2);
      expect(new Set(mine.filter((c) => c.endpoint === "prepare").map((c) => c.key))).toEqual(
        new Set([keyOf(tx, "ledger/prepare")]),
      );
      expect(mine.every((c) => c.endpoint === "prepare" || c.endpoint === "commit")).toBe(true);
      const commits = mine.filter((c) => c.endpoint === "commit");
      expect(commits.length).toBeGreaterThanOrEqual(1);
      expect(new Set(commits.map((c) => c.key))).toEqual(new Set([keyOf(tx, "ledger/commit")]));
      expect((await balance("bank-2", "hal")).balance).toBe(110);
    } finally {
      duplicate = false;
    }
  });
});

describe("a ROLLBACK to a service that prepared", () => {
  it("is not acknowledged by a gateway's bare 404: it is sent again until the service itself answers", async () => {
    const gated = await startHttpService();
    try {
      expect((await register("gated", gated.url, ["2pc"])).status).toBe(201);
      picky.answer("prepare", () => ({ status: 409, body: { reason: "limit_exceeded" } }));
      // The first two ROLLBACKs meet a gateway mid-deploy; the service never sees them.
      gated.answer("rollback", (n) => (n <= 2 ? { status: 404, body: "Not Found" } : { status: 200 }));
      const tx = await begin(
        {
          protocol: "2pc",
          branches: [
            { participant: "gated", action: "record", input: {} },
            { participant: "picky", action: "record", input: {} },
          ],
        },
        0,
      );
      const done = await settled(tx.id);
      expect(done).toMatchObject({ phase: "aborted", reason: "limit_exceeded" });
      const rollbacks = gated.callsTo("rollback").filter((c) => c.body.txId === tx.id);
      expect(rollbacks.length).toBeGreaterThanOrEqual(3);
      expect(gated.applied.has(keyOf(tx, "gated/rollback"))).toBe(true);
    } finally {
      await gated.stop();
    }
  });

  it("is acknowledged by the service's explicit unknown_transaction 404", async () => {
    const fresh = await startHttpService();
    try {
      expect((await register("fresh", fresh.url, ["2pc"])).status).toBe(201);
      // Its PREPARE never arrives (500 every time) and the transaction aborts at its deadline.
      fresh.answer("prepare", () => ({ status: 500 }));
      fresh.answer("rollback", () => unknownTransaction);
      const tx = await begin(
        {
          protocol: "2pc",
          timeoutMs: 1500,
          branches: [{ participant: "fresh", action: "record", input: {} }],
        },
        0,
      );
      const done = await settled(tx.id);
      expect(done).toMatchObject({ phase: "aborted", reason: "timeout" });
      expect(fresh.callsTo("rollback").filter((c) => c.body.txId === tx.id)).toHaveLength(1);
    } finally {
      await fresh.stop();
    }
  });
});

describe("a PREPARE whose answer was lost, arriving again after the deadline", () => {
  let local: Stack;
  let keeper: HttpService;
  let sqs: MessageBus | undefined;
  /** First copies of the PREPAREs sent to `keeper`, to deliver one again later. */
  const prepares: PrepareMessage[] = [];

  beforeAll(async () => {
    keeper = await startHttpService();
    // No sweeper of its own: the test sweeps once the late copy has been handled, so the
    // copy always comes before the deadline abort (the race that left the service prepared).
    local = await startStack({
      bankServers: ["bank-1"],
      roles: ["api", "coordinator", "participants", "dispatcher"],
      wrapBus: (bus) => {
        sqs ??= bus;
        return {
          toCoordinator: (m) => bus.toCoordinator(m),
          toParticipant: (p, m, o) => {
            if (p === "keeper" && m.type === "prepare" && m.retries === undefined) prepares.push(m);
            return bus.toParticipant(p, m, o);
          },
        };
      },
      env: {
        CONCORD_COMMERCE_PARTICIPANTS: "none",
        CONCORD_HTTP_PARTICIPANT_ALLOW_PRIVATE: "true",
        CONCORD_HTTP_PARTICIPANT_HOSTS: "127.0.0.1",
        CONCORD_HTTP_TIMEOUT_MS: "300",
      },
    });
    const res = await local.request("POST", "/v1/participants", {
      name: "keeper",
      baseUrl: keeper.url,
      protocols: ["2pc"],
    });
    expect(res.status).toBe(201);
  });

  afterAll(async () => {
    await local?.stop();
    await keeper?.stop();
  });

  it("sends the service ROLLBACK: the late copy votes nothing, and the deadline abort reaches every silent participant", async () => {
    await local.seed("bank-1", "ivy", 500);
    // The service prepares (holding what it promised), and its answer never comes back.
    keeper.answer("prepare", () => ({ status: 200, lost: true }));
    const res = await local.request("POST", "/v1/transactions?wait=0", {
      protocol: "2pc",
      timeoutMs: 2500,
      branches: [
        { participant: "bank-1", action: "withdraw", input: { account: "ivy", amount: 100 } },
        { participant: "keeper", action: "record", input: { entry: "ivy -100" } },
      ],
    });
    const tx = (await res.json()) as TransactionView;
    await eventually(
      async () => (keeper.applied.has(keyOf(tx, "keeper/prepare")) ? true : undefined),
      5_000,
      "the service to prepare",
    );
    const copy = prepares.find((m) => m.txId === tx.id);
    expect(copy).toBeDefined();
    // Past the deadline, the PREPARE arrives again (a duplicate, a re-send).
    const pastDeadline = Date.parse(tx.createdAt) + 2500 + 200;
    await new Promise((r) => setTimeout(r, Math.max(0, pastDeadline - Date.now())));
    const calledBefore = keeper.callsTo("prepare").filter((c) => c.body.txId === tx.id).length;
    await sqs?.toParticipant("keeper", copy as PrepareMessage);
    // Time for the dispatcher to take the copy and for anything it sends to be handled.
    await new Promise((r) => setTimeout(r, 2_000));
    expect(keeper.callsTo("prepare").filter((c) => c.body.txId === tx.id)).toHaveLength(calledBefore);
    await local.runtime.roles.of("sweeper").pass();
    await eventually(
      async () => (keeper.callsTo("rollback").some((c) => c.body.txId === tx.id) ? true : undefined),
      5_000,
      "the service to be sent ROLLBACK",
    );
    const done = await local.settle(tx.id, 10_000);
    expect(done).toMatchObject({ phase: "aborted", reason: "timeout" });
    expect(keeper.applied.has(keyOf(tx, "keeper/rollback"))).toBe(true);
    expect(await local.account("bank-1", "ivy")).toMatchObject({ balance: 500 });
    expect((await local.account("bank-1", "ivy")).lockedBy).toBeUndefined();
  });
});
