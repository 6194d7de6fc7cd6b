/**
 * The whole stack — API, coordinator, participants, sweeper and both emulators —
 * killed with SIGKILL in the middle of a load, then restarted from the DynamoDB
 * data on disk. The SQS emulator lost every message; the sweeper must finish
 * every transaction that was in flight from the records alone.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, ScanCommand } from "@aws-sdk/lib-dynamodb";
import { afterAll, describe, expect, it } from "vitest";
import { FAST_TIMING } from "../helpers/cluster.ts";
import { eventually } from "../helpers/stack.ts";

const dataDir = mkdtempSync(join(tmpdir(), "concord-crash-"));
let current: { child: ChildProcess; api: string; dynamodb: string } | undefined;

function startConcord(): Promise<{ child: ChildProcess; api: string; dynamodb: string }> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "src/local/cli.ts", "start", "--port", "0", "--data-dir", dataDir],
    {
      env: { ...process.env, ...FAST_TIMING, CONCORD_DEFAULT_TIMEOUT_MS: "8000", CONCORD_LOG_LEVEL: "ERROR" },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    },
  );
  let out = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`concord start did not come up:\n${out}`)), 60_000);
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const api = /API\s+(http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1];
      const dynamodb = /DynamoDB\s+(http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1];
      if (api && dynamodb) {
        clearTimeout(timer);
        resolve({ child, api, dynamodb });
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", (code) => reject(new Error(`concord start exited with ${code}:\n${out}`)));
  });
}

const documentClient = (endpoint: string) =>
  DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint, region: "us-east-1" }));

const scanTable = async (doc: DynamoDBDocumentClient, table: string) =>
  ((await doc.send(new ScanCommand({ TableName: `concord-${table}`, ConsistentRead: true }))).Items ??
    []) as Record<string, unknown>[];

/** SIGKILL to the whole process group: nothing gets to clean up. */
function killHard(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once("exit", () => resolve());
    process.kill(-(child.pid as number), "SIGKILL");
  });
}

afterAll(async () => {
  if (current) {
    current.child.kill("SIGTERM");
    await new Promise((r) => current?.child.once("exit", r));
  }
  rmSync(dataDir, { recursive: true, force: true });
});

describe("the whole stack killed mid-load", () => {
  it("finishes every transaction after a restart from the persisted data, money conserved", async () => {
    current = await startConcord();
    const { api } = current;
    const servers = ["bank-1", "bank-2", "bank-3"];
    const accounts = Array.from({ length: 9 }, (_, i) => ({ server: servers[i % 3] as string, id: `k${i}` }));
    for (const a of accounts) {
      const res = await fetch(`${api}/v1/bank/${a.server}/accounts/${a.id}`, {
        method: "PUT",
        body: '{"balance":500}',
      });
      expect(res.status).toBe(200);
    }
    // 60 transfers in flight; the stack dies a moment after they start.
    const told = new Map<string, string>();
    const posts = Array.from({ length: 60 }, (_, n) => {
      const from = accounts[n % 9] as (typeof accounts)[number];
      const to = accounts[(n * 4 + 1) % 9] as (typeof accounts)[number];
      if (from === to) return Promise.resolve();
      return fetch(`${api}/v1/transfers`, {
        method: "POST",
        headers: { "Idempotency-Key": `load-${n}` },
        body: JSON.stringify([
          { server_id: from.server, account_id: from.id, operation: "withdraw", amount: 1 + (n % 50) },
          { server_id: to.server, account_id: to.id, operation: "deposit", amount: 1 + (n % 50) },
        ]),
      })
        .then(async (r) => told.set(`load-${n}`, ((await r.json()) as { status: string }).status))
        .catch(() => {});
    });
    // Die mid-load: once some transactions are recorded and at least one of them is still open.
    const before = documentClient(current.dynamodb);
    await eventually(
      async () => {
        const recorded = await scanTable(before, "transactions");
        const open = recorded.some((t) => t.state !== "committed" && t.state !== "aborted");
        return recorded.length >= 10 && open ? true : undefined;
      },
      30_000,
      "transactions to be recorded before the crash",
    );
    before.destroy();
    await killHard(current.child);
    await Promise.all(posts);
    current = undefined;

    current = await startConcord();
    const doc = documentClient(current.dynamodb);
    const scan = (table: string) => scanTable(doc, table);
    let last: Record<string, unknown>[] = [];
    const txs = await eventually(
      async () => {
        last = await scan("transactions");
        return last.length > 0 && last.every((t) => t.state === "committed" || t.state === "aborted")
          ? last
          : undefined;
      },
      60_000,
      "every transaction to finish after the restart",
    ).catch((err: Error) => {
      // Name what is stuck, so a failure says where to look.
      const stuck = last.filter((t) => t.state !== "committed" && t.state !== "aborted");
      throw new Error(`${err.message}; unfinished: ${JSON.stringify(stuck, null, 1).slice(0, 6000)}`);
    });
    const bank = await scan("bank");
    const balances = bank.filter((i) => i.kind === "account").map((a) => Number(a.balance));
    expect(balances.reduce((s, b) => s + b, 0)).toBe(9 * 500);
    expect(balances.filter((b) => b < 0)).toEqual([]);
    expect(bank.filter((i) => i.lockedBy !== undefined || i.state === "prepared")).toEqual([]);
    // What a client was told before the crash still holds.
    for (const [id, status] of told) {
      const tx = txs.find((t) => t.id === id);
      if (status === "committed") expect(tx?.state).toBe("committed");
      if (status === "aborted") expect(tx?.state).toBe("aborted");
    }
    console.log(
      `${txs.length} transactions recorded before the crash: ${txs.filter((t) => t.state === "committed").length} committed, ` +
        `${txs.filter((t) => t.state === "aborted").length} aborted after the restart`,
    );
    doc.destroy();
  }, 120_000);
});
