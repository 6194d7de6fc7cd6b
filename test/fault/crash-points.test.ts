/**
 * Each role runs as its own process and dies (SIGKILL) at a named crash point,
 * or stays down for a while; after it comes back, every invariant holds.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { type Cluster, checkInvariants, startCluster } from "../helpers/cluster.ts";
import { eventually } from "../helpers/stack.ts";

const run = promisify(execFile);
let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

const transfer = (amount: number) => [
  { server_id: "bank-1", account_id: "a", operation: "withdraw", amount },
  { server_id: "bank-2", account_id: "b", operation: "deposit", amount },
];

async function seed(c: Cluster) {
  expect((await c.call("PUT", "/v1/bank/bank-1/accounts/a", { balance: 1_000 })).status).toBe(200);
  expect((await c.call("PUT", "/v1/bank/bank-2/accounts/b", { balance: 0 })).status).toBe(200);
}

async function balances(c: Cluster) {
  const a = (await c.call("GET", "/v1/bank/bank-1/accounts/a")).body;
  const b = (await c.call("GET", "/v1/bank/bank-2/accounts/b")).body;
  return [a.balance, b.balance];
}

const barrierStates = async (c: Cluster, txId: string) =>
  (await c.scan("bank"))
    .filter((i) => i.kind === "barrier" && i.txId === txId)
    .map((i) => `${i.participant}:${i.state}`)
    .sort();

describe("crash points, each role its own process", () => {
  it("a participant that never answers PREPARE: aborted at the deadline, consistent when it returns", async () => {
    cluster = await startCluster({ omit: ["bank-2"] });
    await seed(cluster);
    const { body } = await cluster.call("POST", "/v1/transactions", {
      protocol: "2pc",
      timeoutMs: 2_500,
      branches: [
        { participant: "bank-1", action: "withdraw", input: { account: "a", amount: 100 } },
        { participant: "bank-2", action: "deposit", input: { account: "b", amount: 100 } },
      ],
    });
    // Aborted for the client at the deadline; it completes once bank-2 acknowledges.
    const decided = await eventually(async () => {
      const v = (await (cluster as Cluster).call("GET", `/v1/transactions/${body.id}`)).body;
      return v.status === "aborted" ? v : undefined;
    }, 10_000);
    expect(decided).toMatchObject({ reason: "timeout", phase: "aborting" });
    // bank-1 gets its ROLLBACK and lets go while bank-2 is still away.
    await eventually(async () =>
      (await (cluster as Cluster).call("GET", "/v1/bank/bank-1/accounts/a")).body.reserved === 0
        ? true
        : undefined,
    );
    await cluster.start("bank-2");
    // The late PREPAREs meet the ROLLBACK's barrier or the deadline: nothing is locked.
    expect(await cluster.settle(body.id)).toMatchObject({ phase: "aborted" });
    expect((await barrierStates(cluster, body.id)).length).toBe(2);
    expect(await balances(cluster)).toEqual([1_000, 0]);
    expect(await checkInvariants(cluster, 1_000)).toEqual([]);
  });

  it("a participant that fails every PREPARE: the message ends in the dead-letter queue, the transaction still ends", async () => {
    cluster = await startCluster({
      env: { CONCORD_LOCAL_MAX_RECEIVE_COUNT: "2" },
      roleEnv: { "bank-2": { CONCORD_CRASH_AT: "before-prepare:throw" } },
    });
    await seed(cluster);
    const { body } = await cluster.call("POST", "/v1/transactions", {
      protocol: "2pc",
      timeoutMs: 3_000,
      branches: [
        { participant: "bank-1", action: "withdraw", input: { account: "a", amount: 100 } },
        { participant: "bank-2", action: "deposit", input: { account: "b", amount: 100 } },
      ],
    });
    expect(await cluster.settle(body.id)).toMatchObject({ status: "aborted", reason: "timeout" });
    const dead = await eventually(async () => {
      const d = await (cluster as Cluster).deadLetters("participant-bank-2");
      return d.count > 0 ? d : undefined;
    }, 20_000);
    expect(dead.bodies.some((b) => b.includes(body.id) && b.includes('"prepare"'))).toBe(true);
    // What an operator runs to see it.
    const { stdout } = await run(
      process.execPath,
      ["--import", "tsx", "src/local/cli.ts", "dlq", "--peek", "10"],
      {
        env: { ...process.env, ...cluster.env },
      },
    );
    expect(stdout).toMatch(/participant-bank-2-dlq\t[1-9]\d* messages/);
    expect(stdout).toContain(body.id);
    expect(await checkInvariants(cluster, 1_000)).toEqual([]);
  });

  it("the coordinator down: the participants' direct votes and acks decide and complete the transaction without it", async () => {
    cluster = await startCluster({ omit: ["coordinator"] });
    await seed(cluster);
    const { body } = await cluster.call("POST", "/v1/transfers?wait=10000", transfer(100));
    expect(body.status).toBe("committed");
    expect(await cluster.settle(body.id)).toMatchObject({ status: "committed", phase: "committed" });
    expect(await balances(cluster)).toEqual([900, 100]);
    expect(await checkInvariants(cluster, 1_000)).toEqual([]);
  });

  it("answers queued, the coordinator down after the PREPAREs left, before the votes: the votes wait in the queue", async () => {
    cluster = await startCluster({ omit: ["coordinator"], env: { CONCORD_QUEUED_ANSWERS: "true" } });
    await seed(cluster);
    const { status, body } = await cluster.call("POST", "/v1/transfers", transfer(100));
    expect(status).toBe(202);
    await eventually(async () =>
      (await barrierStates(cluster as Cluster, body.id)).join() === "bank-1:prepared,bank-2:prepared"
        ? true
        : undefined,
    );
    await cluster.start("coordinator");
    expect(await cluster.settle(body.id)).toMatchObject({ status: "committed", phase: "committed" });
    expect(await balances(cluster)).toEqual([900, 100]);
    expect(await checkInvariants(cluster, 1_000)).toEqual([]);
  });

  it.each([
    // With reservations the last voter's commit is written with the decision (no COMMIT to itself):
    // a death after that write leaves the other participant's COMMIT to the sweeper.
    ["after-votes-before-decision", "escrow"],
    ["after-decision-before-send", "escrow"],
    // A barrier holding locks waits for its COMMIT, which the last voter holds for itself.
    ["after-decision-before-send", "exclusive"],
    ["before-self-delivery", "exclusive"],
  ])(
    "the participant whose direct vote decides dies at %s (%s); the transaction commits once it is back",
    async (point, lockMode) => {
      // Whichever of the two votes last decides: arm both, one dies.
      const armed = { CONCORD_CRASH_AT: point };
      cluster = await startCluster({
        env: { CONCORD_LOCK_MODE: lockMode },
        roleEnv: { "bank-1": armed, "bank-2": armed },
      });
      await seed(cluster);
      const { body } = await cluster.call("POST", "/v1/transfers", transfer(250));
      const c = cluster;
      const dead = await Promise.race(
        (["bank-1", "bank-2"] as const).map(async (role) =>
          (await c.exited(role)) === "SIGKILL" ? role : "",
        ),
      );
      expect(dead).toMatch(/^bank-[12]$/);
      // Before the decision: the redelivered PREPARE votes again from its barrier and decides.
      // After it (before-self-delivery: its own COMMIT held, not yet handled, is lost with the
      // process): the decision is durable, the sweeper sends it.
      await cluster.start(dead as "bank-1" | "bank-2", { CONCORD_CRASH_AT: "" });
      expect(await cluster.settle(body.id)).toMatchObject({ status: "committed", phase: "committed" });
      expect(await balances(cluster)).toEqual([750, 250]);
      expect(await checkInvariants(cluster, 1_000)).toEqual([]);
    },
  );

  it("both participants die right after the write of their vote with its prepare; redelivery finishes it exactly once", async () => {
    // The first vote is written with its prepare, the deciding one with its branches applied at once;
    // each participant dies after its own write, before anything else.
    const armed = { CONCORD_CRASH_AT: "after-prepare-before-vote" };
    cluster = await startCluster({ roleEnv: { "bank-1": armed, "bank-2": armed } });
    await seed(cluster);
    const { body } = await cluster.call("POST", "/v1/transfers", transfer(40));
    expect(await cluster.exited("bank-1")).toBe("SIGKILL");
    expect(await cluster.exited("bank-2")).toBe("SIGKILL");
    // Decided by the second write: what the client sees stands while both are down.
    const view = (await cluster.call("GET", `/v1/transactions/${body.id}`)).body;
    expect(view).toMatchObject({ status: "committed" });
    await cluster.start("bank-1", { CONCORD_CRASH_AT: "" });
    await cluster.start("bank-2", { CONCORD_CRASH_AT: "" });
    expect(await cluster.settle(body.id)).toMatchObject({ status: "committed", phase: "committed" });
    expect(await balances(cluster)).toEqual([960, 40]);
    // Each account applied once (its seed, then its commit; a hold leaves the version as it is).
    for (const [server, account] of [
      ["bank-1", "a"],
      ["bank-2", "b"],
    ] as const) {
      expect((await cluster.call("GET", `/v1/bank/${server}/accounts/${account}`)).body.version).toBe(2);
    }
    expect(await checkInvariants(cluster, 1_000)).toEqual([]);
  });

  it.each([["after-votes-before-decision"], ["after-decision-before-send"]])(
    "answers queued, the coordinator dies at %s and recovers on restart",
    async (point) => {
      cluster = await startCluster({
        env: { CONCORD_QUEUED_ANSWERS: "true" },
        roleEnv: { coordinator: { CONCORD_CRASH_AT: point } },
      });
      await seed(cluster);
      const { body } = await cluster.call("POST", "/v1/transfers", transfer(250));
      expect(await cluster.exited("coordinator")).toBe("SIGKILL");
      await cluster.start("coordinator", { CONCORD_CRASH_AT: "" });
      expect(await cluster.settle(body.id)).toMatchObject({ status: "committed", phase: "committed" });
      expect(await balances(cluster)).toEqual([750, 250]);
      expect(await checkInvariants(cluster, 1_000)).toEqual([]);
    },
  );

  /**
   * Every write apart: the prepare before the vote, and the last voter's commit
   * apart from the decision, so every participant's commit comes on a COMMIT.
   */
  const APART = { CONCORD_COMMIT_WITH_DECISION: "false", CONCORD_VOTE_WITH_PREPARE: "false" };

  it("a participant down at COMMIT: committed for the client, re-sent with backoff, applied once it is back", async () => {
    // bank-2 waits for its COMMIT even when its vote decides (else it would commit with the decision).
    cluster = await startCluster({
      env: APART,
      roleEnv: { "bank-2": { CONCORD_CRASH_AT: "before-commit" } },
    });
    await seed(cluster);
    const { body } = await cluster.call("POST", "/v1/transfers?wait=5000", transfer(300));
    expect(body.status).toBe("committed");
    expect(await cluster.exited("bank-2")).toBe("SIGKILL");
    // Down for a while: the decision stands, the sweeper keeps re-sending it.
    const waiting = await eventually(async () => {
      const v = (await (cluster as Cluster).call("GET", `/v1/transactions/${body.id}`)).body;
      return v.attempts >= 2 ? v : undefined;
    }, 15_000);
    expect(waiting).toMatchObject({ status: "committed", phase: "committing" });
    expect((await cluster.call("GET", "/v1/bank/bank-2/accounts/b")).body).toMatchObject({
      balance: 0,
      pending: expect.any(Number),
    });
    await cluster.start("bank-2", { CONCORD_CRASH_AT: "" });
    expect(await cluster.settle(body.id)).toMatchObject({ phase: "committed" });
    expect(await balances(cluster)).toEqual([700, 300]);
    expect(await checkInvariants(cluster, 1_000)).toEqual([]);
  });

  it.each([["after-prepare-before-vote"], ["after-commit-before-ack"]])(
    "a participant dies at %s: redelivery finishes the job exactly once",
    async (point) => {
      // bank-1 waits for its COMMIT even when its vote decides: the point after it is reached.
      cluster = await startCluster({ env: APART, roleEnv: { "bank-1": { CONCORD_CRASH_AT: point } } });
      await seed(cluster);
      const { body } = await cluster.call("POST", "/v1/transfers", transfer(10));
      expect(await cluster.exited("bank-1")).toBe("SIGKILL");
      await cluster.start("bank-1", { CONCORD_CRASH_AT: "" });
      expect(await cluster.settle(body.id)).toMatchObject({ status: "committed", phase: "committed" });
      expect(await balances(cluster)).toEqual([990, 10]);
      expect((await cluster.call("GET", "/v1/bank/bank-1/accounts/a")).body.version).toBe(2);
      expect(await checkInvariants(cluster, 1_000)).toEqual([]);
    },
  );

  it("a participant dies at after-rollback-before-ack: the re-sent ROLLBACK meets its barrier, releases nothing twice", async () => {
    cluster = await startCluster({
      roleEnv: { "bank-2": { CONCORD_CRASH_AT: "after-rollback-before-ack" } },
    });
    await seed(cluster);
    // bank-1 refuses (insufficient funds), bank-2 prepared its deposit: only bank-2 gets the ROLLBACK.
    const { body } = await cluster.call("POST", "/v1/transfers", transfer(5_000));
    expect(await cluster.exited("bank-2")).toBe("SIGKILL");
    expect(await barrierStates(cluster, body.id)).toEqual(["bank-1:refused", "bank-2:rolled_back"]);
    await cluster.start("bank-2", { CONCORD_CRASH_AT: "" });
    const done = await cluster.settle(body.id);
    // Acknowledged by the redelivered ROLLBACK or by the sweeper's re-send, whichever comes first.
    expect(done).toMatchObject({ status: "aborted", phase: "aborted", reason: "insufficient_funds" });
    expect(await balances(cluster)).toEqual([1_000, 0]);
    expect((await cluster.call("GET", "/v1/bank/bank-2/accounts/b")).body.version).toBe(1);
    expect(await checkInvariants(cluster, 1_000)).toEqual([]);
  });

  /** A same-server transfer: every branch at bank-1, so it commits in one phase. */
  const oneServer = (amount: number, timeoutMs = 60_000) => ({
    protocol: "2pc",
    timeoutMs,
    branches: [
      { participant: "bank-1", action: "transfer", input: { account: "a", to_account: "c", amount } },
    ],
  });
  async function seedOneServer(c: Cluster) {
    expect((await c.call("PUT", "/v1/bank/bank-1/accounts/a", { balance: 1_000 })).status).toBe(200);
    expect((await c.call("PUT", "/v1/bank/bank-1/accounts/c", { balance: 0 })).status).toBe(200);
  }
  const oneServerBalances = async (c: Cluster) =>
    Promise.all(
      ["a", "c"].map(async (a) => (await c.call("GET", `/v1/bank/bank-1/accounts/${a}`)).body.balance),
    );

  it("a one-phase participant dies after its write, before its report: the PREPARE comes back and reports the commit", async () => {
    cluster = await startCluster({
      roleEnv: { "bank-1": { CONCORD_CRASH_AT: "after-prepare-before-vote" } },
    });
    await seedOneServer(cluster);
    const { body } = await cluster.call("POST", "/v1/transactions", oneServer(300));
    expect(await cluster.exited("bank-1")).toBe("SIGKILL");
    // Applied and decided at bank-1 in its one write; the coordinator does not know yet.
    expect(await barrierStates(cluster, body.id)).toEqual(["bank-1:committed"]);
    expect(await oneServerBalances(cluster)).toEqual([700, 300]);
    expect((await cluster.call("GET", `/v1/transactions/${body.id}`)).body.status).toBe("pending");
    await cluster.start("bank-1", { CONCORD_CRASH_AT: "" });
    const done = await cluster.settle(body.id);
    expect(done).toMatchObject({ status: "committed", phase: "committed" });
    expect(done.events.map((e: { type: string }) => e.type)).not.toContain("decision_sent");
    expect(await oneServerBalances(cluster)).toEqual([700, 300]);
    expect(await checkInvariants(cluster, 1_000)).toEqual([]);
  });

  it("a one-phase participant that committed and stays down past the deadline: the coordinator asks, never aborts alone, and commits on its answer", async () => {
    cluster = await startCluster({
      roleEnv: { "bank-1": { CONCORD_CRASH_AT: "after-prepare-before-vote" } },
    });
    await seedOneServer(cluster);
    const { body } = await cluster.call("POST", "/v1/transactions", oneServer(300, 1_500));
    expect(await cluster.exited("bank-1")).toBe("SIGKILL");
    // Past the deadline the coordinator has sent its ROLLBACK and still waits for the answer.
    const asking = await eventually(async () => {
      const v = (await (cluster as Cluster).call("GET", `/v1/transactions/${body.id}`)).body;
      return v.events.some((e: { type: string }) => e.type === "outcome_asked") ? v : undefined;
    }, 15_000);
    expect(asking).toMatchObject({ status: "pending", phase: "preparing" });
    await cluster.start("bank-1", { CONCORD_CRASH_AT: "" });
    // Whichever comes first, the PREPARE again or the ROLLBACK, is answered with the commit.
    expect(await cluster.settle(body.id)).toMatchObject({ status: "committed", phase: "committed" });
    expect(await barrierStates(cluster, body.id)).toEqual(["bank-1:committed"]);
    expect(await oneServerBalances(cluster)).toEqual([700, 300]);
    expect(await checkInvariants(cluster, 1_000)).toEqual([]);
  });

  it("the sweeper dies at after-claim-before-send: its claim lapses and a later sweep sends what was due", async () => {
    cluster = await startCluster({
      omit: ["bank-2"],
      roleEnv: { sweeper: { CONCORD_CRASH_AT: "after-claim-before-send" } },
    });
    await seed(cluster);
    const { body } = await cluster.call("POST", "/v1/transactions", {
      protocol: "2pc",
      timeoutMs: 30_000,
      branches: [
        { participant: "bank-1", action: "withdraw", input: { account: "a", amount: 60 } },
        { participant: "bank-2", action: "deposit", input: { account: "b", amount: 60 } },
      ],
    });
    // bank-2 is away, so its PREPARE is due again: the sweeper claims it and dies before sending.
    expect(await cluster.exited("sweeper")).toBe("SIGKILL");
    await cluster.start("sweeper", { CONCORD_CRASH_AT: "" });
    await cluster.start("bank-2");
    const done = await cluster.settle(body.id);
    expect(done).toMatchObject({ status: "committed", phase: "committed" });
    expect(done.events.map((e) => e.type)).toContain("prepare_resent");
    expect(await balances(cluster)).toEqual([940, 60]);
    expect(await checkInvariants(cluster, 1_000)).toEqual([]);
  });

  it("the API dies after writing the record, before the PREPAREs: the sweeper sends them", async () => {
    cluster = await startCluster({ roleEnv: { api: { CONCORD_CRASH_AT: "after-record-before-prepare" } } });
    await seed(cluster);
    const failed = await cluster
      .call("POST", "/v1/transfers", transfer(40), { "Idempotency-Key": "api-crash-1" })
      .catch((err: unknown) => err);
    expect(failed).toBeInstanceOf(Error);
    expect(await cluster.exited("api")).toBe("SIGKILL");
    await cluster.start("api", { CONCORD_CRASH_AT: "" });
    // The client retries with the same key and gets the same transaction, run once.
    const retried = await cluster.call("POST", "/v1/transfers?wait=10000", transfer(40), {
      "Idempotency-Key": "api-crash-1",
    });
    expect(retried.body).toMatchObject({ id: "api-crash-1", status: "committed" });
    const done = await cluster.settle("api-crash-1");
    expect(done.events.map((e) => e.type)).toContain("prepare_resent");
    expect(await balances(cluster)).toEqual([960, 40]);
    expect(await checkInvariants(cluster, 1_000)).toEqual([]);
  });
});
