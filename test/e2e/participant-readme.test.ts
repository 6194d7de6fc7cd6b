/**
 * packages/participant/README.md as a new user follows it: the package packed
 * (`npm pack`, which builds it) and its tarball installed into a fresh project
 * in a temporary folder, beside hono and @hono/node-server; the README's
 * service (`<!-- example: file loyalty.mjs -->`) written there as it stands;
 * its walkthrough (`<!-- example: run -->`) run as written — the secret
 * exported, `npm start` in concord's checkout, `node loyalty.mjs` in the
 * project, then the curls with their promised answers (the same `# → …`
 * syntax as test/e2e/doc-examples.ts); and the DynamoDB store snippet run
 * against DynamoDB Local. Ports 3000 and 4000 become free ones, the table
 * name a unique one. Every process started is stopped by its process group.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { DeleteTableCommand, DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { freePort } from "../helpers/ports.ts";
import { stopGroups } from "../helpers/processes.ts";
import { type ExampleCommand, parseExamples } from "./doc-examples.ts";

const ROOT = resolve(import.meta.dirname, "../..");
const README = "packages/participant/README.md";
const markdown = readFileSync(join(ROOT, README), "utf8");
const STATUS = "\n__concord_status__";
const READY_TIMEOUT_MS = 90_000;

/** Code blocks of any language with the marker before them. */
function blocks(): { lang: string; marker: string | undefined; line: number; body: string }[] {
  const lines = markdown.split("\n");
  const found: { lang: string; marker: string | undefined; line: number; body: string }[] = [];
  for (let i = 0; i < lines.length; i++) {
    const fence = /^```(\w*)\s*$/.exec(lines[i] ?? "");
    if (!fence) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i] ?? ""); i++) body.push(lines[i] ?? "");
    let j = start - 1;
    while (j >= 0 && (lines[j] ?? "").trim() === "") j--;
    const marker = /^<!--\s*example:\s*(.*?)\s*-->$/.exec((lines[j] ?? "").trim())?.[1];
    found.push({ lang: fence[1] ?? "", marker, line: start + 1, body: body.join("\n") });
  }
  return found;
}

const fileBlock = (name: string) => {
  const block = blocks().find((b) => b.marker === `file ${name}`);
  if (!block) throw new Error(`${README} has no block marked "example: file ${name}"`);
  return block.body;
};

let tmp: string;
let project: string;
let api: number;
let loyalty: number;
const running: { pid: number; exited: Promise<void> }[] = [];

const withPorts = (text: string) =>
  text
    .replace(/\b(?:127\.0\.0\.1|localhost):3000\b/g, `127.0.0.1:${api}`)
    .replace(/\b(?:127\.0\.0\.1|localhost):4000\b/g, `127.0.0.1:${loyalty}`)
    .replace(/\bport: 4000\b/g, `port: ${loyalty}`);

/** A clean environment: the suite's emulators and settings must not leak into what the README starts. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...Object.fromEntries(
      Object.entries(process.env).filter(
        ([k]) => !k.startsWith("AWS_ENDPOINT_URL") && !k.startsWith("CONCORD_"),
      ),
    ),
    ...extra,
  };
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "concord-kit-readme-"));
  project = join(tmp, "service");
  [api, loyalty] = [await freePort(), await freePort()];
  // As the README's install: pack in concord's checkout (prepack builds dist/), install the tarball.
  const pack = spawnSync(
    "npm",
    ["pack", "-w", "@concord/participant", "--pack-destination", tmp, "--silent"],
    {
      cwd: ROOT,
      encoding: "utf8",
    },
  );
  expect(pack.status, pack.stderr).toBe(0);
  const tarball = join(tmp, pack.stdout.trim().split("\n").at(-1) as string);
  const installed = join(project, "node_modules/@concord/participant");
  mkdirSync(installed, { recursive: true });
  const untar = spawnSync("tar", ["xzf", tarball, "-C", installed, "--strip-components=1"], {
    encoding: "utf8",
  });
  expect(untar.status, untar.stderr).toBe(0);
  // The other packages the README installs, offline: the ones concord's checkout has.
  for (const dep of ["hono", "@hono/node-server", "@aws-sdk/client-dynamodb", "@aws-sdk/lib-dynamodb"]) {
    mkdirSync(dirname(join(project, "node_modules", dep)), { recursive: true });
    symlinkSync(join(ROOT, "node_modules", dep), join(project, "node_modules", dep));
  }
  writeFileSync(
    join(project, "package.json"),
    JSON.stringify({ name: "loyalty", private: true, type: "module" }),
  );
  writeFileSync(join(project, "loyalty.mjs"), withPorts(fileBlock("loyalty.mjs")));
}, 120_000);

afterAll(async () => {
  await stopGroups(running.splice(0).reverse());
  if (tmp) rmSync(tmp, { recursive: true, force: true });
}, 60_000);

describe("the participant kit's README", () => {
  it("marks every js and sh block: a file of the example, run, or not run with the reason", () => {
    const unmarked = blocks()
      .filter((b) => ["js", "sh", "mjs"].includes(b.lang))
      .filter((b) => !b.marker || !/^(file \S+|run|not run: .+)$/.test(b.marker))
      .map((b) => `${README}:${b.line}`);
    expect(unmarked).toEqual([]);
  });

  it("the installed package exposes what the examples import, from its built files", async () => {
    const kit = await import(join(project, "node_modules/@concord/participant/dist/index.js"));
    for (const name of [
      "participantApp",
      "createParticipantHandler",
      "createMemoryBarrierStore",
      "yes",
      "no",
      "done",
      "failed",
      "verifySignature",
    ])
      expect(typeof kit[name], name).toBe("function");
  });

  it("runs its walkthrough as written: the secret, npm start, the service, the curls and their answers", async () => {
    const walkthrough = parseExamples(README, markdown).filter((b) => b.mode === "run");
    expect(walkthrough).toHaveLength(1);
    const env = cleanEnv({ CONCORD_DATA_DIR: join(tmp, "data"), PORT: String(api) });
    for (const c of walkthrough[0]?.commands ?? []) {
      const exported = /^export (\w+)=(.+)$/.exec(c.text);
      if (exported) {
        const [, name, value] = exported as unknown as [string, string, string];
        const shell = spawnSync("bash", ["-c", `printf %s ${value}`], { encoding: "utf8" });
        expect(shell.status, c.text).toBe(0);
        env[name] = shell.stdout;
        continue;
      }
      if (c.ready) {
        // concord's commands run in its checkout, `node` in the service's folder.
        await startBackground(c.text, c.ready, /^node\s/.test(c.text) ? project : ROOT, env);
        continue;
      }
      await runCurl(c, env);
    }
  }, 180_000);

  it("its DynamoDB store snippet creates the table and a working store on DynamoDB Local", async () => {
    const table = `kit-readme-${crypto.randomUUID().slice(0, 8)}`;
    const snippet = fileBlock("dynamodb-store.mjs").replaceAll("loyalty-barriers", table);
    // The snippet as written, then a use of the store it made.
    writeFileSync(
      join(project, "dynamodb-store.mjs"),
      `${snippet}\nawait store.put({ key: "k", incarnation: "-", version: 1, state: "committed" }, 0);\nconsole.log(JSON.stringify(await store.get("k", "-")));\n`,
    );
    const endpoint = inject("dynamodbEndpoint");
    const run = spawnSync("node", ["dynamodb-store.mjs"], {
      cwd: project,
      encoding: "utf8",
      env: cleanEnv({ AWS_ENDPOINT_URL_DYNAMODB: endpoint }),
      timeout: 60_000,
    });
    const ddb = new DynamoDBClient({ endpoint });
    await ddb.send(new DeleteTableCommand({ TableName: table })).catch(() => {});
    ddb.destroy();
    expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
    expect(run.stdout).toContain('"state":"committed"');
  }, 90_000);
});

async function startBackground(text: string, ready: string, cwd: string, env: NodeJS.ProcessEnv) {
  const command = withPorts(text);
  const child: ChildProcess = spawn("bash", ["-c", command], { cwd, env, detached: true, stdio: "pipe" });
  const exited = new Promise<void>((done) => child.once("exit", () => done()));
  running.push({ pid: child.pid as number, exited });
  let output = "";
  await new Promise<void>((done, reject) => {
    const timer = setTimeout(
      () =>
        reject(new Error(`"${command}" not ready ("${ready}") within ${READY_TIMEOUT_MS} ms:\n${output}`)),
      READY_TIMEOUT_MS,
    );
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes(withPorts(ready))) {
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
  child.stdout?.resume();
  child.stderr?.resume();
}

/** A curl as written, with its status appended; a read is tried again while the decision spreads. */
async function runCurl(c: ExampleCommand, env: NodeJS.ProcessEnv): Promise<void> {
  expect(c.text, "only curls run in the foreground here").toMatch(/^curl\s/);
  const read = !/\s(-X|-d)\s/.test(c.text);
  for (let attempt = 1; ; attempt++) {
    const command = withPorts(c.text);
    const script = `curl() { command curl -sS --max-time 30 -w '${STATUS}%{http_code}' "$@"; }\n${command}`;
    const run = spawnSync("bash", ["-c", script], { cwd: ROOT, env, encoding: "utf8" });
    const at = run.stdout.lastIndexOf(STATUS);
    const status = Number(run.stdout.slice(at + STATUS.length).trim());
    const body = run.stdout.slice(0, at);
    const context = `${command}\n--- stdout ---\n${run.stdout}\n--- stderr ---\n${run.stderr}`;
    try {
      expect(run.status, context).toBe(0);
      if (c.expect?.status !== undefined) expect(status, context).toBe(c.expect.status);
      else expect(status >= 200 && status < 300, `a 2xx: ${context}`).toBe(true);
      for (const fragment of c.expect?.fragments ?? []) expect(body, context).toContain(withPorts(fragment));
      return;
    } catch (err) {
      if (!read || attempt >= 20) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}
