/**
 * The operator CLI (`concord tx …`, `concord dlq …`) as an operator runs it: the
 * `concord` bin under plain node, in its own process, against a running stack
 * with API keys on. bank-3 runs no participant, so a transaction that touches
 * it stays undecided, and messages sent back to its queue stay there.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import {
  CreateQueueCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, type TransactionView } from "../../packages/client/src/index.ts";
import { findQueue, type QueuePair, redriveDeadLetters } from "../../src/local/dead-letters.ts";
import { type Stack, startStack, testEnv } from "../helpers/stack.ts";

const ROOT = resolve(import.meta.dirname, "../..");
const CLIENT_KEY = "client-key-for-the-cli-test";
const ADMIN_KEY = "admin-key-for-the-cli-test";

let stack: Stack;
let tmp: string;
let env: NodeJS.ProcessEnv;

interface Ran {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** `concord <args>` as installed: the bin, under plain node. */
function concord(args: readonly string[], options: { stdin?: string; env?: NodeJS.ProcessEnv } = {}) {
  const child = spawn(process.execPath, ["scripts/concord.js", ...args], {
    cwd: ROOT,
    env: { ...env, ...options.env },
    stdio: "pipe",
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  child.stdin.end(options.stdin ?? "");
  const done = new Promise<Ran>((resolve) =>
    child.once("close", (code) => resolve({ code, stdout, stderr })),
  );
  return { child, done, output: () => stdout };
}

const run = (args: readonly string[], options: { stdin?: string; env?: NodeJS.ProcessEnv } = {}) =>
  concord(args, options).done;
const tx = (...args: string[]) => ["tx", ...args, "--url", stack.url as string];

/** A user error says what is wrong in a line or two, never with a stack trace. */
const noStack = (r: Ran) => expect(`${r.stdout}${r.stderr}`).not.toMatch(/\n\s+at /);

const transfer = (amount: number) => [
  { server_id: "bank-1", account_id: "alice", operation: "withdraw", amount },
  { server_id: "bank-2", account_id: "bob", operation: "deposit", amount },
];

beforeAll(async () => {
  stack = await startStack({
    port: 0,
    participants: ["bank-1", "bank-2"],
    env: { CONCORD_API_KEYS: CLIENT_KEY, CONCORD_ADMIN_KEYS: ADMIN_KEY },
  });
  tmp = mkdtempSync(join(tmpdir(), "concord-cli-"));
  // The CLI finds the stack by --url, and SQS by the endpoint and prefix; nothing else of the suite leaks in.
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("CONCORD_")));
  env = { ...clean, ...testEnv(stack.config.topology.prefix), CONCORD_API_KEY: ADMIN_KEY };
  const admin = createClient({ baseUrl: stack.url as string, apiKey: ADMIN_KEY });
  await admin.putAccount("bank-1", "alice", 1000);
  await admin.putAccount("bank-2", "bob", 0);
  await admin.putAccount("bank-3", "carol", 100);
});
afterAll(async () => {
  await stack?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** A port nothing listens on: one the system just gave out and took back. */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** A transfer from bank-3, which runs no participant: it stays undecided. */
async function stuckTransaction(): Promise<TransactionView> {
  const client = createClient({ baseUrl: stack.url as string, apiKey: CLIENT_KEY });
  // Two parties: a one-party transaction commits in one phase, and an abort then waits for its participant.
  return client.transfer([
    { server_id: "bank-3", account_id: "carol", operation: "withdraw", amount: 1 },
    { server_id: "bank-2", account_id: "bob", operation: "deposit", amount: 1 },
  ]);
}

describe("concord tx", () => {
  it("submits the bank shape from stdin and shows the committed transaction", async () => {
    const r = await run(tx("submit", "-"), { stdin: JSON.stringify(transfer(10)) });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^status\s+committed/m);
    expect(r.stdout).toMatch(/PARTICIPANT\s+ACTION\s+STATE/);
    // Committed once the decision is durable; each branch commits a moment later.
    expect(r.stdout).toMatch(/bank-1\s+withdraw\s+(committing|committed)\s+yes/);
  });

  it("submits a transaction from a file; one that ends aborted exits 3 with its reason", async () => {
    const file = join(tmp, "too-much.json");
    writeFileSync(
      file,
      JSON.stringify({
        protocol: "2pc",
        branches: [
          { participant: "bank-1", action: "withdraw", input: { account: "alice", amount: 1_000_000 } },
        ],
      }),
    );
    const r = await run([...tx("submit", file), "--json"]);
    expect(r.code, r.stderr).toBe(3);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: "aborted", reason: "insufficient_funds" });
  });

  it("refuses input that is not a request with exit 2, and a request the API refuses with exit 1 and its issues", async () => {
    const notJson = await run(tx("submit", "-"), { stdin: "{ not json" });
    expect(notJson.code).toBe(2);
    expect(notJson.stderr).toContain("stdin is not JSON");
    noStack(notJson);
    const invalid = await run(tx("submit", "-"), {
      stdin: JSON.stringify([
        { server_id: "bank-1", account_id: "alice", operation: "withdraw", amount: -5 },
      ]),
    });
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toContain("(invalid_request, HTTP 400)");
    expect(invalid.stderr).toMatch(/^\s+0\.amount: /m);
    noStack(invalid);
  });

  it("gets a transaction as JSON, and says plainly when there is none", async () => {
    const submitted = JSON.parse(
      (await run([...tx("submit", "-"), "--json"], { stdin: JSON.stringify(transfer(1)) })).stdout,
    );
    const got = await run([...tx("get", submitted.id), "--json"]);
    expect(got.code, got.stderr).toBe(0);
    expect(JSON.parse(got.stdout)).toMatchObject({ id: submitted.id, status: "committed" });
    const missing = await run(tx("get", "no-such-transaction"));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("transaction no-such-transaction not found (not_found, HTTP 404)");
    noStack(missing);
  });

  it("lists by status; a filter the server does not apply is an error, not an unfiltered list", async () => {
    const stuck = await stuckTransaction();
    const pending = await run([...tx("list", "--status", "pending", "--limit", "100"), "--json"]);
    expect(pending.code, pending.stderr).toBe(0);
    const listed = JSON.parse(pending.stdout) as { transactions: TransactionView[] };
    expect(listed.transactions.map((t) => t.id)).toContain(stuck.id);
    expect(listed.transactions.every((t) => t.status === "pending")).toBe(true);

    const table = await run(tx("list", "--status", "pending"));
    expect(table.stdout).toMatch(/^ID\s+PROTOCOL\s+STATUS\s+PHASE/m);
    expect(table.stdout).toContain(stuck.id);

    const byParticipant = await run([...tx("list", "--participant", "bank-1", "--limit", "100"), "--json"]);
    if (byParticipant.code === 0) {
      // A server that serves the filter: only transactions with a branch at bank-1.
      const { transactions } = JSON.parse(byParticipant.stdout) as { transactions: TransactionView[] };
      expect(transactions.every((t) => t.branches.some((b) => b.participant === "bank-1"))).toBe(true);
      expect(transactions.map((t) => t.id)).not.toContain(stuck.id);
    } else {
      expect(byParticipant.code).toBe(1);
      expect(byParticipant.stderr).toContain("does not filter by --participant");
      noStack(byParticipant);
    }
  });

  it("watches a transaction live until an operator aborts it, then exits 3", async () => {
    const stuck = await stuckTransaction();
    const watch = concord([...tx("watch", stuck.id), "--until-decided", "--interval", "100ms"]);
    await expect.poll(() => watch.output(), { timeout: 20_000 }).toContain("phase preparing");
    const abort = await run(tx("abort", stuck.id));
    expect(abort.code, abort.stderr).toBe(0);
    const watched = await watch.done;
    expect(watched.code, watched.stderr).toBe(3);
    expect(watched.stdout).toMatch(/status aborted, phase aborting, reason aborted_by_operator/);
    expect(watched.stdout).toMatch(/abort_requested/);
    expect(watched.stdout).toMatch(/branch 0 bank-3 withdraw: pending → aborting/);
  });

  it("watches a committed transaction to the end: every event, exit 0", async () => {
    const submitted = JSON.parse(
      (await run([...tx("submit", "-"), "--json"], { stdin: JSON.stringify(transfer(2)) })).stdout,
    );
    const r = await run([...tx("watch", submitted.id), "--timeout", "20s"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("status committed, phase committed");
    for (const event of ["created", "prepare_sent", "vote", "decision", "completed"])
      expect(r.stdout).toContain(event);
  });

  it("abort and retry need the admin key, and a decided transaction cannot be aborted", async () => {
    const stuck = await stuckTransaction();
    const asClient = await run(tx("abort", stuck.id), { env: { CONCORD_API_KEY: CLIENT_KEY } });
    expect(asClient.code).toBe(1);
    expect(asClient.stderr).toContain("(forbidden, HTTP 403)");
    expect(asClient.stderr).toContain("admin key");
    noStack(asClient);
    const noKey = await run(tx("get", stuck.id), { env: { CONCORD_API_KEY: "" } });
    expect(noKey.code).toBe(1);
    expect(noKey.stderr).toContain("(unauthorized, HTTP 401)");

    const retried = await run([...tx("retry", stuck.id), "--json"]);
    expect(retried.code, retried.stderr).toBe(0);
    expect(JSON.parse(retried.stdout)).toMatchObject({ id: stuck.id, status: "pending" });

    const committed = JSON.parse(
      (await run([...tx("submit", "-"), "--json"], { stdin: JSON.stringify(transfer(1)) })).stdout,
    );
    const refused = await run([...tx("abort", committed.id), "--key", ADMIN_KEY]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("(conflict, HTTP 409)");
    noStack(refused);
  });

  it("an API that is not there: exit 1, why, and where it looked", async () => {
    const port = await closedPort();
    const r = await run(["tx", "get", "x", "--url", `http://127.0.0.1:${port}`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("(ECONNREFUSED) (unreachable)");
    expect(r.stderr).toContain(`is concord running at http://127.0.0.1:${port}?`);
    noStack(r);
  });
});

describe("concord dlq", () => {
  let sqs: SQSClient;
  let bank3: QueuePair;
  const urlOf = async (name: string) =>
    (await sqs.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl as string;

  /**
   * The bodies in a queue that hold `marker`, seen without taking them. Each look
   * counts as a receive: a source queue's other messages reach its dead-letter
   * queue after a few, so the redrive's own tests use queues of their own.
   */
  async function bodies(queue: string, marker: string): Promise<string[]> {
    const url = await urlOf(queue);
    const seen = new Map<string, string>();
    for (let round = 0; round < 3; round++) {
      const out = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, VisibilityTimeout: 0 }),
      );
      for (const m of out.Messages ?? []) seen.set(m.MessageId as string, m.Body ?? "");
    }
    return [...seen.values()].filter((b) => b.includes(marker));
  }

  async function deadLetter(pair: QueuePair, marker: string): Promise<void> {
    const url = await urlOf(pair.deadLetter);
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: JSON.stringify({ marker }) }));
  }

  /** A queue and dead-letter queue of the test's own: nothing else sends to or receives from them. */
  async function ownPair(name: string): Promise<QueuePair> {
    const prefix = stack.config.topology.prefix;
    const pair = { name, source: `${prefix}-${name}`, deadLetter: `${prefix}-${name}-dlq` };
    for (const q of [pair.source, pair.deadLetter]) await sqs.send(new CreateQueueCommand({ QueueName: q }));
    return pair;
  }

  /** The SQS client with one kind of call failing the first time it is made. */
  function failingOnce(command: string): Pick<SQSClient, "send"> {
    let failed = false;
    return {
      send: ((cmd: { constructor: { name: string } }) => {
        if (!failed && cmd.constructor.name === command) {
          failed = true;
          return Promise.reject(new Error(`injected: ${command} failed`));
        }
        return sqs.send(cmd as Parameters<SQSClient["send"]>[0]);
      }) as SQSClient["send"],
    };
  }

  beforeAll(() => {
    sqs = stack.runtime.clients.sqs;
    bank3 = findQueue(stack.config.topology, "bank-3") as QueuePair;
  });

  it("lists, peeks and redrives a dead-letter queue back to its queue", async () => {
    const marker = `cli-${Date.now()}`;
    await deadLetter(bank3, marker);
    const list = await run(["dlq"]);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(new RegExp(`${bank3.deadLetter}\\t1 messages`));

    const peek = await run(["dlq", "peek", "bank-3", "--json"]);
    expect(peek.code, peek.stderr).toBe(0);
    expect(JSON.parse(peek.stdout)).toMatchObject({
      queue: bank3.deadLetter,
      messages: [{ body: `{"marker":"${marker}"}` }],
    });

    const redrive = await run(["dlq", "redrive", "participant-bank-3-dlq"]);
    expect(redrive.code, redrive.stderr).toBe(0);
    expect(redrive.stdout).toContain(`moved 1 messages from ${bank3.deadLetter} to ${bank3.source}; 0 left`);
    expect(await bodies(bank3.source, marker)).toHaveLength(1);
    expect(await bodies(bank3.deadLetter, marker)).toHaveLength(0);

    const unknown = await run(["dlq", "peek", "no-such-queue"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("no queue no-such-queue; the queues are coordinator,");
    noStack(unknown);
  });

  it("a redrive interrupted after the send, before the delete: the message is in both queues, not lost", async () => {
    const pair = await ownPair("redrive-after-send");
    const marker = `after-send-${Date.now()}`;
    await deadLetter(pair, marker);
    await expect(
      redriveDeadLetters(failingOnce("DeleteMessageCommand"), pair, { visibilitySeconds: 1 }),
    ).rejects.toThrow("injected");
    expect(await bodies(pair.source, marker)).toHaveLength(1);
    // Hidden for the move's visibility timeout, then back: still there to redrive again.
    await expect
      .poll(async () => (await redriveDeadLetters(sqs, pair)).moved, { timeout: 20_000, interval: 500 })
      .toBe(1);
    expect(await bodies(pair.source, marker)).toHaveLength(2);
    expect(await bodies(pair.deadLetter, marker)).toHaveLength(0);
  });

  it("a redrive whose send fails leaves the message in the dead-letter queue", async () => {
    const pair = await ownPair("redrive-no-send");
    const marker = `no-send-${Date.now()}`;
    await deadLetter(pair, marker);
    await expect(
      redriveDeadLetters(failingOnce("SendMessageCommand"), pair, { visibilitySeconds: 1 }),
    ).rejects.toThrow("injected");
    expect(await bodies(pair.source, marker)).toHaveLength(0);
    await expect
      .poll(async () => (await redriveDeadLetters(sqs, pair)).moved, { timeout: 20_000, interval: 500 })
      .toBe(1);
    expect(await bodies(pair.source, marker)).toHaveLength(1);
  });
});
