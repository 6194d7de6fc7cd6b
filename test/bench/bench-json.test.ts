/**
 * `npm run bench -- --json` on the suite's emulators: a tiny run whose every
 * line must carry exactly the documented fields (docs/performance.md), with
 * values that make sense. Whoever changes the protocol is judged by these
 * lines, so a field that goes missing or changes its type fails here.
 */
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, inject, it } from "vitest";
import { createAwsClients, destroyAwsClients } from "../../src/adapters/aws-clients.ts";
import { loadConfig } from "../../src/config.ts";
import { scanRecords } from "../../testkit/scan-table.ts";

const run = promisify(execFile);
const root = fileURLToPath(new URL("../..", import.meta.url));

async function bench(args: string[]) {
  return run(process.execPath, ["--import", "tsx", "bench/transfers.ts", ...args], {
    cwd: root,
    env: {
      ...process.env,
      AWS_ENDPOINT_URL_DYNAMODB: inject("dynamodbEndpoint"),
      AWS_ENDPOINT_URL_SQS: inject("sqsEndpoint"),
    },
    timeout: 150_000,
  });
}

const FIELDS = [
  "callsPerTx",
  "callsPerTxTotal",
  "capacityUnitsPerTx",
  "committed",
  "committedPerSecond",
  "concurrency",
  "cpuMsPerTx",
  "p50Ms",
  "p95Ms",
  "p99Ms",
  "usdPerMillion",
];

const HOT_FIELDS = [
  "abortReasons",
  "clients",
  "committed",
  "committedPerSecond",
  "committedShare",
  "lockPolicy",
  "mostRestarts",
  "p50Ms",
  "p95Ms",
  "p99Ms",
  "ratioToUncontended",
  "restartsPerTx",
  "run",
  "transfers",
];

const prefix = () => ["--prefix", `b${randomUUID().slice(0, 8)}`];

/** The transaction records a run under `--prefix name` left in its table. */
async function recordsOf(name: string) {
  const config = loadConfig({
    AWS_ACCESS_KEY_ID: "bench",
    AWS_SECRET_ACCESS_KEY: "bench",
    AWS_REGION: "us-east-1",
    AWS_ENDPOINT_URL_DYNAMODB: inject("dynamodbEndpoint"),
    AWS_ENDPOINT_URL_SQS: inject("sqsEndpoint"),
    CONCORD_PREFIX: name,
  });
  const clients = createAwsClients(config);
  try {
    return await scanRecords(clients.doc, config.topology);
  } finally {
    destroyAwsClients(clients);
  }
}

const WORKLOADS = [
  {
    workload: "2-party 2PC",
    args: ["--transfers", "6", "--levels", "1,2", "--warmup", "0"],
    levels: [1, 2],
    committed: 6,
  },
  {
    workload: "saga",
    args: ["--protocol", "saga", "--transfers", "3", "--levels", "1", "--warmup", "0"],
    levels: [1],
    committed: 3,
  },
  {
    workload: "one participant",
    args: ["--one-phase", "--transfers", "3", "--levels", "1", "--warmup", "0"],
    levels: [1],
    committed: 3,
  },
  {
    // With a warm-up: its transactions are not among the level's.
    workload: "4-party 2PC",
    args: ["--participants", "4", "--transfers", "3", "--levels", "1", "--warmup", "1"],
    levels: [1],
    committed: 3,
    participants: ["bank-1", "bank-2", "bank-3", "bank-4"],
  },
];

describe("npm run bench -- --json", () => {
  it.each(WORKLOADS)(
    "$workload: one line per concurrency level with exactly the documented fields",
    {
      timeout: 180_000,
    },
    async ({ args, levels, committed, participants }) => {
      const named = prefix();
      const { stdout } = await bench(["--json", "--accounts", "10", ...named, ...args]);
      if (participants) {
        // Each transaction, the warm-up's too, has one branch on each of the servers; the
        // level's are timed, then as many again meter capacity, and the warm-up sent more.
        const records = await recordsOf(named[1] as string);
        expect(records.length).toBeGreaterThan(2 * committed);
        for (const record of records) {
          expect(record.branches.map((b) => b.participant)).toEqual(participants);
        }
      }
      const lines = stdout.trim().split("\n");
      expect(lines).toHaveLength(levels.length);
      for (const [i, line] of lines.entries()) {
        const row = JSON.parse(line) as Record<string, unknown>;
        expect(Object.keys(row).sort()).toEqual(FIELDS);
        expect(row.concurrency).toBe(levels[i]);
        expect(row.committed).toBe(committed);
        for (const field of [
          "committedPerSecond",
          "p50Ms",
          "p95Ms",
          "p99Ms",
          "cpuMsPerTx",
          "usdPerMillion",
        ]) {
          expect(row[field], field).toBeTypeOf("number");
          expect(row[field] as number, field).toBeGreaterThan(0);
        }
        expect(row.p50Ms as number).toBeLessThanOrEqual(row.p95Ms as number);
        expect(row.p95Ms as number).toBeLessThanOrEqual(row.p99Ms as number);

        const calls = row.callsPerTx as Record<string, number>;
        for (const [key, perTx] of Object.entries(calls)) {
          expect(key).toMatch(/^(dynamodb|sqs):[A-Z][A-Za-z]+$/);
          expect(perTx, key).toBeGreaterThan(0);
        }
        // Both services are counted, SQS receives included: the platform bills them like any other call.
        const services = new Set(Object.keys(calls).map((k) => k.split(":")[0]));
        expect([...services].sort()).toEqual(["dynamodb", "sqs"]);
        expect(calls["sqs:ReceiveMessage"]).toBeGreaterThan(0);
        const sum = Object.values(calls).reduce((a, b) => a + b, 0);
        expect(row.callsPerTxTotal as number).toBeCloseTo(sum, 2);

        const capacity = row.capacityUnitsPerTx as Record<string, unknown>;
        expect(Object.keys(capacity).sort()).toEqual(["read", "write"]);
        // Every write call consumes at least a unit, every item read at least half of one: a floor
        // that holds whatever the protocol calls, and fails when capacity goes unreported.
        const count = (ops: string[]) => ops.reduce((n, op) => n + (calls[`dynamodb:${op}`] ?? 0), 0);
        const writes = count(["PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"]);
        const reads = count(["GetItem", "BatchGetItem", "TransactGetItems"]);
        expect(capacity.write as number).toBeGreaterThan(0);
        expect(capacity.write as number).toBeGreaterThanOrEqual(writes - 0.01);
        expect(capacity.read as number).toBeGreaterThanOrEqual(0.5 * reads - 0.01);
      }
    },
  );

  it("--hot: one line per run, the contended ones measured against the uncontended", {
    timeout: 180_000,
  }, async () => {
    const { stdout } = await bench([
      "--json",
      "--hot",
      "--transfers",
      "4",
      "--clients",
      "2",
      "--warmup",
      "1",
      ...prefix(),
    ]);
    const rows = stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(rows.map((r) => r.run)).toEqual(["uncontended", "hot-accounts", "fan-in"]);
    for (const row of rows) {
      expect(Object.keys(row).sort()).toEqual(HOT_FIELDS);
      expect(row).toMatchObject({ lockPolicy: "wait-die", clients: 2, transfers: 4 });
      const reasons = row.abortReasons as Record<string, number>;
      const notCommitted = Object.values(reasons).reduce((a, b) => a + b, 0);
      expect((row.committed as number) + notCommitted).toBe(4);
      expect(row.committedShare).toBeCloseTo((row.committed as number) / 4, 4);
      expect(row.p50Ms as number).toBeLessThanOrEqual(row.p99Ms as number);
      expect(row.ratioToUncontended).toBeTypeOf("number");
      expect(row.restartsPerTx as number).toBeLessThanOrEqual(row.mostRestarts as number);
    }
    expect(rows[0]).toMatchObject({
      committed: 4,
      abortReasons: {},
      ratioToUncontended: 1,
      restartsPerTx: 0,
      mostRestarts: 0,
    });
  });

  it("--help lists every option", async () => {
    const { stdout } = await bench(["--help"]);
    for (const option of [
      "--transfers",
      "--levels",
      "--accounts",
      "--pollers",
      "--protocol",
      "--one-phase",
      "--hot",
      "--clients",
      "--lock-policy",
      "--seed",
      "--prefix",
      "--json",
      "--participants",
      "--warmup",
    ]) {
      expect(stdout).toContain(option);
    }
  });

  it("says what it warmed up on, apart from what it measured", { timeout: 180_000 }, async () => {
    const { stdout } = await bench([
      "--accounts",
      "10",
      ...prefix(),
      "--transfers",
      "2",
      "--levels",
      "1",
      "--warmup",
      "1",
    ]);
    const warmed =
      /warmed up, not measured: (\d+) transactions in [\d.]+ s at concurrency 1, 1 round \([\d.]+\/s\), stopped at --warmup 1/.exec(
        stdout,
      );
    expect(warmed, stdout).not.toBeNull();
    expect(Number(warmed?.[1])).toBeGreaterThan(0);
    expect(stdout).toContain("(2 committed, 0 not committed");
  });

  it.each([
    [["--participants", "101"], "at most 100"],
    [["--participants", "1"], "at least 2"],
    [["--participants", "3", "--one-phase"], "not with --protocol saga or --one-phase"],
    [["--participants", "3", "--protocol", "saga"], "not with --protocol saga or --one-phase"],
    [["--participants", "3", "--hot"], "--hot runs 2-party 2pc transfers only"],
    [["--warmup", "-1"], "a number of seconds, 0 or more"],
    [["--warmup", "soon"], "a number of seconds, 0 or more"],
  ])("refuses %j before starting anything", async (args, message) => {
    const failed = await bench(args).then(
      () => undefined,
      (err: { code?: number; stderr?: string }) => err,
    );
    expect(failed?.code).toBe(1);
    expect(failed?.stderr).toContain(message);
  });
});
