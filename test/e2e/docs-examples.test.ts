/**
 * Every shell example of README.md and docs/*.md runs as written, in order,
 * against a fresh stack (`npm start -- --fresh` on a free port, its data in a
 * temporary directory), with the loyalty example service where the README
 * starts it; each command's documented outcome is checked. Ports 3000 and 4000
 * of the examples become free ones. The marker and expectation syntax is in
 * ./doc-examples.ts. Blocks that bring their own stack run last, after the
 * first stack is stopped. Every process started is stopped by process group.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../helpers/ports.ts";
import { stopGroups } from "../helpers/processes.ts";
import { allExamples, type ExampleBlock, type ExampleCommand } from "./doc-examples.ts";

const ROOT = resolve(import.meta.dirname, "../..");
const READY_TIMEOUT_MS = 60_000;
const STATUS = "\n__concord_status__";
/** A read right after a decision: 20 tries, 250 ms apart. */
const READ_ATTEMPTS = 20;

const blocks = allExamples(ROOT);
const runnable = blocks.filter((b) => b.mode === "run");
const ownStack = blocks.filter((b) => b.mode === "own-stack");
const where = (b: { file: string; line: number }) => `${b.file}:${b.line}`;

describe("every shell example in the docs is marked", () => {
  it("as run, or not run with the reason", () => {
    const unmarked = blocks.filter((b) => b.mode === "unmarked").map((b) => `${where(b)} ${b.reason ?? ""}`);
    expect(unmarked).toEqual([]);
    expect(runnable.length).toBeGreaterThan(10);
  });

  it("and a command that keeps running says when it is ready", () => {
    const open = [...runnable, ...ownStack].flatMap((b) =>
      b.commands.filter(
        (c) => /(^|\s)(npm start|npm run (example:|concord -- (emulators|role)))/.test(c.text) && !c.ready,
      ),
    );
    expect(open.map((c) => c.text)).toEqual([]);
  });
});

describe("the examples, run as written", () => {
  let tmp: string;
  let api: number;
  let loyalty: number;
  const running: { pid: number; exited: Promise<void>; command: string }[] = [];

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), "concord-docs-"));
    api = await freePort();
    loyalty = await freePort();
  });

  afterAll(async () => {
    await stopAll();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }, 60_000);

  function env(): NodeJS.ProcessEnv {
    // The suite's own emulators and settings must not leak in: the examples find their stack themselves.
    const clean = Object.fromEntries(
      Object.entries(process.env).filter(
        ([k]) => !k.startsWith("AWS_ENDPOINT_URL") && !k.startsWith("CONCORD_"),
      ),
    );
    return {
      ...clean,
      CONCORD_DATA_DIR: join(tmp, "data"),
      PORT: String(api),
      LOYALTY_PORT: String(loyalty),
    };
  }

  const withPorts = (text: string) =>
    text
      .replace(/\b(?:127\.0\.0\.1|localhost):3000\b/g, `127.0.0.1:${api}`)
      .replace(/\b(?:127\.0\.0\.1|localhost):4000\b/g, `127.0.0.1:${loyalty}`)
      .replace(/--port 3000\b/g, `--port ${api}`);

  /** Starts a command that keeps running, in its own process group; resolves once it prints `ready`. */
  async function startBackground(c: ExampleCommand, ready: string): Promise<void> {
    const command = withPorts(c.text).replace(/&\s*$/, "");
    const child = spawn("bash", ["-c", command], { cwd: ROOT, env: env(), detached: true, stdio: "pipe" });
    const exited = new Promise<void>((done) => child.once("exit", () => done()));
    running.push({ pid: child.pid as number, exited, command });
    let output = "";
    await new Promise<void>((done, reject) => {
      const timer = setTimeout(
        () =>
          reject(new Error(`"${command}" not ready ("${ready}") within ${READY_TIMEOUT_MS} ms:\n${output}`)),
        READY_TIMEOUT_MS,
      );
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes(ready)) {
          clearTimeout(timer);
          done();
        }
      };
      child.stdout?.on("data", onData);
      child.stderr?.on("data", onData);
      void exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`"${command}" exited before it was ready:\n${output}`));
      });
    });
    // Keep reading, so a full pipe never blocks it.
    child.stdout?.resume();
    child.stderr?.resume();
  }

  /** A read is tried again until it keeps its promise: a decision is applied a moment after it is durable. */
  async function runForeground(c: ExampleCommand): Promise<void> {
    const read = /^curl\s/.test(c.text) && !/\s(-X|-d)\s/.test(c.text);
    for (let attempt = 1; ; attempt++) {
      try {
        return await runOnce(c);
      } catch (err) {
        if (!read || attempt >= READ_ATTEMPTS) throw err;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }

  async function runOnce(c: ExampleCommand): Promise<void> {
    const command = withPorts(c.text);
    // Every curl reports its status after the body; nothing else about the command changes.
    const script = `curl() { command curl -sS --max-time 30 -w '${STATUS}%{http_code}' "$@"; }\n${command}`;
    const child: ChildProcess = spawn("bash", ["-c", script], { cwd: ROOT, env: env(), stdio: "pipe" });
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr?.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const code = await new Promise<number | null>((done) => child.once("close", done));
    const context = `${command}\n--- stdout ---\n${stdout}\n--- stderr ---\n${stderr}`;
    expect(code, context).toBe(0);
    const at = stdout.lastIndexOf(STATUS);
    if (at < 0) {
      if (c.expect?.prints !== undefined) expect(`${stdout}${stderr}`, context).toContain(c.expect.prints);
      else expect(c.expect, `only a curl can promise a status: ${context}`).toBeUndefined();
      return;
    }
    const status = Number(stdout.slice(at + STATUS.length).trim());
    const body = stdout.slice(0, at);
    if (c.expect?.status !== undefined) expect(status, context).toBe(c.expect.status);
    else expect(status >= 200 && status < 300, `a 2xx: ${context}`).toBe(true);
    for (const fragment of c.expect?.fragments ?? []) {
      // `"createdAt":"…"` promises the field, whatever its value.
      const wanted = fragment.endsWith('"…"') ? fragment.slice(0, -2) : withPorts(fragment);
      expect(body, context).toContain(wanted);
    }
  }

  /** Commands that keep running start together; the next other command waits until all are ready. */
  async function run(block: ExampleBlock): Promise<void> {
    let starting: Promise<void>[] = [];
    for (const c of block.commands) {
      if (c.ready) {
        starting.push(startBackground(c, c.ready));
        continue;
      }
      await Promise.all(starting);
      starting = [];
      await runForeground(c);
    }
    await Promise.all(starting);
  }

  /** SIGTERM to each group (the CLI stops its emulators on it), SIGKILL to what is left after a grace. */
  async function stopAll(): Promise<void> {
    await stopGroups(running.splice(0).reverse());
  }

  for (const block of runnable) {
    it(`${where(block)}: ${block.commands[0]?.text.split("\n")[0]?.slice(0, 60)}`, () => run(block), 120_000);
  }

  if (ownStack.length > 0) {
    it("stops the first stack before the examples that bring their own", () => stopAll(), 60_000);
    for (const block of ownStack) {
      it(`${where(block)} (own stack): ${block.commands[0]?.text.slice(0, 60)}`, () => run(block), 120_000);
    }
  }
});
