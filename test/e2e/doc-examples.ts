/**
 * The shell examples of README.md and docs/*.md, as test/e2e/docs-examples.test.ts
 * runs them. A ```sh block is preceded by a marker comment, which GitHub does not show:
 *
 *   <!-- example: run -->                  run it against the stack `npm start` runs
 *   <!-- example: run, own stack -->       it brings its own stack: run after the others, alone
 *   <!-- example: not run: <reason> -->    it needs something outside the repository
 *
 * What an example promises is a comment after the command (or on the line after it):
 * `# → 201 "status":"committed"` is the HTTP status and `"key":value` fragments the
 * body holds; `# → ready "text"` is a command that keeps running, ready once it prints
 * the text; `# → prints "text"`: another command's output holds the text. A curl
 * without a promise must answer 2xx; any other command must exit 0.
 * A read (a curl with neither -X nor -d) is tried again for a few seconds until it
 * shows what it promises: a committed decision is applied everywhere a moment later.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

export interface Expectation {
  readonly status?: number;
  readonly fragments: readonly string[];
  /** A command other than curl: text its output holds. */
  readonly prints?: string;
}

export interface ExampleCommand {
  readonly text: string;
  readonly line: number;
  readonly expect?: Expectation;
  /** Keeps running; ready once its output holds this. */
  readonly ready?: string;
}

export interface ExampleBlock {
  readonly file: string;
  readonly line: number;
  readonly mode: "run" | "own-stack" | "not-run" | "unmarked";
  readonly reason?: string;
  readonly commands: readonly ExampleCommand[];
}

const MARKER = /^<!--\s*example:\s*(.*?)\s*-->$/;
const FENCE = /^```(sh|bash|shell)\b/;
const FRAGMENT = /"[A-Za-z0-9_.-]+":(?:"[^"]*"|-?\d+(?:\.\d+)?|true|false|null)/g;

/** The files whose examples must run: the README, then docs/ in name order. */
export function exampleFiles(root: string): string[] {
  const docs = readdirSync(join(root, "docs"))
    .filter((f) => f.endsWith(".md"))
    .sort()
    .map((f) => `docs/${f}`);
  return ["README.md", ...docs];
}

export function parseExamples(file: string, markdown: string): ExampleBlock[] {
  const lines = markdown.split("\n");
  const blocks: ExampleBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!FENCE.test(lines[i] ?? "")) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i] ?? ""); i++) body.push(lines[i] ?? "");
    let j = start - 1;
    while (j >= 0 && (lines[j] ?? "").trim() === "") j--;
    const marker = MARKER.exec((lines[j] ?? "").trim())?.[1];
    const { mode, reason } = modeOf(marker);
    blocks.push({
      file,
      line: start + 1,
      mode,
      ...(reason !== undefined ? { reason } : {}),
      commands: splitCommands(body, start + 2),
    });
  }
  return blocks;
}

function modeOf(marker: string | undefined): { mode: ExampleBlock["mode"]; reason?: string } {
  if (marker === undefined) return { mode: "unmarked" };
  if (marker === "run") return { mode: "run" };
  if (marker === "run, own stack") return { mode: "own-stack" };
  const notRun = /^not run:\s*(.+)$/.exec(marker);
  if (notRun?.[1]) return { mode: "not-run", reason: notRun[1] };
  return { mode: "unmarked", reason: `unknown marker "${marker}"` };
}

export function parseExpectation(text: string): { expect?: Expectation; ready?: string } {
  const ready = /^ready\s+"([^"]+)"/.exec(text);
  if (ready?.[1]) return { ready: ready[1] };
  const prints = /^prints\s+"([^"]+)"/.exec(text);
  if (prints?.[1]) return { expect: { fragments: [], prints: prints[1] } };
  const status = /^(\d{3})\b/.exec(text)?.[1];
  return {
    expect: {
      ...(status !== undefined ? { status: Number(status) } : {}),
      fragments: text.match(FRAGMENT) ?? [],
    },
  };
}

/**
 * Shell commands of a block: a newline ends one unless it is inside quotes or
 * after a backslash. A `# → …` comment belongs to the command on its line, or to
 * the one before when it stands alone.
 */
export function splitCommands(body: readonly string[], firstLine: number): ExampleCommand[] {
  const commands: ExampleCommand[] = [];
  let text = "";
  let startLine = firstLine;
  let promise: string | undefined;
  let quote: "'" | '"' | undefined;
  const finish = () => {
    const trimmed = text.trim();
    if (trimmed !== "") {
      commands.push({
        text: trimmed,
        line: startLine,
        ...(promise !== undefined ? parseExpectation(promise) : {}),
      });
    } else if (promise !== undefined && commands.length > 0) {
      // A comment on a line of its own: the command before it.
      const last = commands.pop() as ExampleCommand;
      commands.push({ ...last, ...parseExpectation(promise) });
    }
    text = "";
    promise = undefined;
  };
  body.forEach((line, n) => {
    if (text.trim() === "") startLine = firstLine + n;
    for (let c = 0; c < line.length; c++) {
      const ch = line[c] as string;
      if (quote) {
        if (ch === quote) quote = undefined;
        text += ch;
      } else if (ch === "'" || ch === '"') {
        quote = ch;
        text += ch;
      } else if (ch === "#" && (c === 0 || /\s/.test(line[c - 1] ?? ""))) {
        const comment = /^#\s*→\s*(.*)$/.exec(line.slice(c).trim());
        if (comment) promise = comment[1] ?? "";
        break;
      } else text += ch;
    }
    if (quote) text += "\n";
    else if (text.endsWith("\\")) text = `${text.slice(0, -1)} `;
    else finish();
  });
  finish();
  return commands;
}

export function allExamples(root: string): ExampleBlock[] {
  return exampleFiles(root).flatMap((f) => parseExamples(f, readFileSync(join(root, f), "utf8")));
}
