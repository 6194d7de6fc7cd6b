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

describe("npm run bench -- --json", () => {
  it("prints one line per concurrency level with exactly the documented fields", {
    timeout: 180_000,
  }, async () => {
    const prefix = `b${randomUUID().slice(0, 8)}`;
    const args = ["--json", "--transfers", "6", "--levels", "1,2", "--accounts", "10", "--prefix", prefix];
    const { stdout } = await bench(args);
    const lines = stdout.trim().split("\n");
    expect(lines).toHaveLength(2);
    for (const [i, line] of lines.entries()) {
      const row = JSON.parse(line) as Record<string, unknown>;
      expect(Object.keys(row).sort()).toEqual(FIELDS);
      expect(row.concurrency).toBe([1, 2][i]);
      expect(row.committed).toBe(6);
      for (const field of ["committedPerSecond", "p50Ms", "p95Ms", "p99Ms", "cpuMsPerTx", "usdPerMillion"]) {
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
      // Receives and deletes are calls the platform bills like any other.
      expect(Object.keys(calls)).toEqual(
        expect.arrayContaining([
          "dynamodb:TransactWriteItems",
          "sqs:SendMessage",
          "sqs:ReceiveMessage",
          "sqs:DeleteMessageBatch",
        ]),
      );
      const sum = Object.values(calls).reduce((a, b) => a + b, 0);
      expect(row.callsPerTxTotal as number).toBeCloseTo(sum, 2);

      const capacity = row.capacityUnitsPerTx as Record<string, unknown>;
      expect(Object.keys(capacity).sort()).toEqual(["read", "write"]);
      expect(capacity.read as number).toBeGreaterThan(0);
      // Each participant prepares and commits in a TransactWriteItems, billed double: at least 8 units.
      expect(capacity.write as number).toBeGreaterThanOrEqual(8);
    }
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
    ]) {
      expect(stdout).toContain(option);
    }
  });
});
