/**
 * `concord tx …`: an operator's view of transactions through the HTTP API (the
 * typed client, never hand-written requests), against any concord: the local
 * one by default, a deployment with `--url`.
 */
import { readFile } from "node:fs/promises";
import { type Command, Option } from "commander";
import {
  type BeginRequest,
  type ConcordClient,
  createClient,
  type EventView,
  type ListQuery,
  type TransactionView,
  type TransferOperation,
} from "../../packages/client/src/index.ts";
import { choiceArg, durationArg, intArg, usageErrorsExit } from "../cli-args.ts";
import { EXIT, type ExitCode, printJson, reportError, shortTime, table, UsageError } from "./cli-output.ts";

const DEFAULT_API_URL = "http://127.0.0.1:3000";

export interface TxCommandDeps {
  /** The API of the local stack `npm start` published in this directory, if it runs. */
  readonly localApiUrl: () => string | undefined;
}

interface ApiOptions {
  readonly url?: string;
  readonly key?: string;
  readonly json?: boolean;
}

/** `--url`, `--key` and `--json`, on every `tx` command so each one's --help shows them. */
function apiOptions(command: Command): Command {
  return command
    .addOption(
      new Option(
        "--url <url>",
        `concord's API (default: the local stack's API when \`npm start\` runs here, else ${DEFAULT_API_URL})`,
      ).env("CONCORD_URL"),
    )
    .addOption(
      new Option("--key <key>", "API key (abort and retry need an admin key)").env("CONCORD_API_KEY"),
    )
    .option("--json", "print JSON (for scripts) instead of tables");
}

/** Runs a command's work and turns its outcome into an exit code; errors as one line, never a stack. */
function run<A extends unknown[]>(
  deps: TxCommandDeps,
  work: (client: ConcordClient, ...args: A) => Promise<ExitCode | undefined>,
) {
  return async (...args: A) => {
    // commander passes the positional arguments, then the options, then the command.
    const opts = args[args.length - 2] as ApiOptions;
    const url = opts.url ?? deps.localApiUrl() ?? DEFAULT_API_URL;
    const client = createClient({ baseUrl: url, ...(opts.key ? { apiKey: opts.key } : {}) });
    try {
      process.exitCode = (await work(client, ...args)) ?? EXIT.ok;
    } catch (err) {
      process.exitCode = reportError(err, { url, ...(opts.json ? { json: true } : {}) });
    }
  };
}

const exitFor = (view: TransactionView): ExitCode => (view.status === "aborted" ? EXIT.aborted : EXIT.ok);

/** An event's fields beyond its time and type, as `key=value`. */
const eventDetails = (e: EventView): string =>
  Object.entries(e)
    .filter(([k]) => k !== "at" && k !== "type")
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(",") : String(v)}`)
    .join(" ");

const participantsOf = (v: TransactionView): string =>
  [...new Set(v.branches.map((b) => b.participant))].join(",");

function printView(v: TransactionView): void {
  const rows: [string, string | undefined][] = [
    ["id", v.id],
    ["protocol", v.protocol],
    ["status", `${v.status} (phase ${v.phase})`],
    ["reason", v.reason],
    ["created", shortTime(v.createdAt)],
    ["deadline", shortTime(v.deadline)],
    ["decided", v.decidedAt && shortTime(v.decidedAt)],
    ["completed", v.completedAt && shortTime(v.completedAt)],
    ["attempts", v.attempts > 0 ? String(v.attempts) : undefined],
  ];
  for (const [k, value] of rows) if (value) console.log(`${k.padEnd(10)}${value}`);
  console.log("");
  console.log(
    table(
      ["#", "participant", "action", "state", "vote", "reason"],
      v.branches.map((b, i) => [
        String(b.stage !== undefined ? `${i} (stage ${b.stage}${b.atomic ? ", atomic" : ""})` : i),
        b.participant,
        b.action,
        b.state,
        b.vote ?? "",
        b.reason ?? "",
      ]),
    ),
  );
  console.log("");
  console.log(
    table(
      ["at", "event", "details"],
      v.events.map((e) => [shortTime(e.at), e.type, eventDetails(e)]),
    ),
  );
  if (v.eventsDropped) console.log(`(${v.eventsDropped} older events dropped)`);
}

/** The request in a file (or stdin): an array is the bank shape, an object a transaction. */
async function readSubmission(
  file: string,
): Promise<{ kind: "transfer"; body: TransferOperation[] } | { kind: "begin"; body: BeginRequest }> {
  let text: string;
  try {
    text = file === "-" ? await readStdin() : await readFile(file, "utf8");
  } catch (err) {
    throw new UsageError(`cannot read ${file === "-" ? "stdin" : file}: ${(err as Error).message}`);
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${file === "-" ? "stdin" : file} is not JSON: ${(err as Error).message}`);
  }
  if (Array.isArray(body)) return { kind: "transfer", body: body as TransferOperation[] };
  if (typeof body === "object" && body !== null) return { kind: "begin", body: body as BeginRequest };
  throw new UsageError(
    'a submission is a transaction {"protocol":…, "branches":[…]} or a transfer [{"server_id":…}, …]',
  );
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

export function addTxCommands(program: Command, deps: TxCommandDeps): Command {
  const tx = program
    .command("tx")
    .description("submit, list, read, watch, abort and retry transactions through the API (--help on each)");
  // Exit 2 on a usage error, as for any input the operator got wrong; 0 after --help.
  usageErrorsExit(tx, EXIT.usage);

  apiOptions(
    tx
      .command("submit")
      .description(
        'start a transaction from a JSON file (- for stdin): a transaction {"protocol","branches",…} or the bank shape [{"server_id",…}]; exits 3 if it ends aborted',
      )
      .argument("<file>", "the request, as POST /v1/transactions or /v1/transfers takes it"),
  )
    .option("--wait <duration>", "wait this long for the outcome (at most 30s)", durationArg, 5000)
    .option(
      "--idempotency-key <key>",
      "repeat a submission whose answer you did not see: the same key never starts a second transaction (default: the request's id, else a new key)",
    )
    .action(
      run(
        deps,
        async (client, file: string, opts: ApiOptions & { wait: number; idempotencyKey?: string }) => {
          const submission = await readSubmission(file);
          const options = {
            wait: opts.wait,
            ...(opts.idempotencyKey ? { idempotencyKey: opts.idempotencyKey } : {}),
          };
          const view =
            submission.kind === "transfer"
              ? await client.transfer(submission.body, options)
              : await client.begin(submission.body, options);
          if (opts.json) printJson(view);
          else printView(view);
          return exitFor(view);
        },
      ),
    );

  apiOptions(
    tx.command("get").description("show one transaction: its status, branches and events").argument("<id>"),
  ).action(
    run(deps, async (client, id: string, opts: ApiOptions) => {
      const view = await client.get(id);
      if (opts.json) printJson(view);
      else printView(view);
      return EXIT.ok;
    }),
  );

  apiOptions(
    tx
      .command("list")
      .description(
        "list transactions, one page in the server's order (newest first with --status; --all: every page); filters as the API serves them",
      ),
  )
    .addOption(
      new Option("--status <status>", "pending, committed or aborted").argParser(
        choiceArg(["pending", "committed", "aborted"] as const),
      ),
    )
    .addOption(
      new Option("--protocol <protocol>", "2pc or saga").argParser(choiceArg(["2pc", "saga"] as const)),
    )
    .option("--participant <name>", "only transactions with a branch at this participant")
    .option("--since <time>", "created at or after this time (ISO 8601)")
    .option("--until <time>", "created before this time (ISO 8601)")
    .option("--limit <n>", "transactions per page (1-100)", intArg(1, 100))
    .option("--cursor <cursor>", "the page after the one that printed this cursor")
    .option("--all", "follow the cursor to the last page")
    .action(
      run(
        deps,
        async (
          client,
          opts: ApiOptions &
            Omit<ListQuery, "status" | "protocol"> & {
              status?: ListQuery["status"];
              protocol?: ListQuery["protocol"];
              all?: boolean;
            },
        ) => {
          const query: ListQuery = Object.fromEntries(
            (["status", "protocol", "participant", "since", "until", "limit", "cursor"] as const)
              .filter((k) => opts[k] !== undefined)
              .map((k) => [k, opts[k]]),
          );
          const views: TransactionView[] = [];
          let next: string | undefined;
          for await (const page of client.list(query)) {
            views.push(...page.transactions);
            next = page.nextCursor;
            if (!opts.all) break;
          }
          checkFiltered(views, query, opts.url ?? deps.localApiUrl() ?? DEFAULT_API_URL);
          if (opts.json) {
            printJson({ transactions: views, ...(next !== undefined ? { nextCursor: next } : {}) });
            return EXIT.ok;
          }
          console.log(
            table(
              ["id", "protocol", "status", "phase", "reason", "created", "participants"],
              views.map((v) => [
                v.id,
                v.protocol,
                v.status,
                v.phase,
                v.reason ?? "",
                shortTime(v.createdAt),
                participantsOf(v),
              ]),
            ),
          );
          if (next !== undefined && !opts.all) console.log(`\nmore: --cursor ${next}`);
          return EXIT.ok;
        },
      ),
    );

  apiOptions(
    tx
      .command("watch")
      .description(
        "follow one transaction live: each event and change of status as it happens, until every participant applied the outcome; exits 3 if it ended aborted",
      )
      .argument("<id>"),
  )
    .option("--interval <duration>", "between two reads", durationArg, 500)
    .option("--timeout <duration>", "give up after this long (exit 1)", durationArg)
    .option("--until-decided", "stop once the outcome is decided, before every participant applied it")
    .action(
      run(deps, async (client, id: string, opts: WatchOpts) => {
        const signal = opts.timeout !== undefined ? AbortSignal.timeout(opts.timeout) : undefined;
        let last: TransactionView | undefined;
        try {
          for await (const view of client.watch(id, {
            intervalMs: opts.interval,
            until: opts.untilDecided ? "decided" : "final",
            ...(signal ? { signal } : {}),
          })) {
            if (opts.json) console.log(JSON.stringify(view));
            else printChange(last, view);
            last = view;
          }
        } catch (err) {
          if (signal?.aborted) throw new Error(`transaction ${id} did not finish within ${opts.timeout} ms`);
          throw err;
        }
        return last ? exitFor(last) : EXIT.failed;
      }),
    );

  for (const [name, what] of [
    ["abort", "abort an undecided transaction (admin key); a decided one is refused with a conflict"],
    ["retry", "re-deliver now what an unfinished transaction waits for (admin key)"],
  ] as const) {
    apiOptions(tx.command(name).description(what).argument("<id>")).action(
      run(deps, async (client, id: string, opts: ApiOptions) => {
        const view = name === "abort" ? await client.abort(id) : await client.retry(id);
        if (opts.json) printJson(view);
        else printView(view);
        return EXIT.ok;
      }),
    );
  }

  return tx;
}

type WatchOpts = ApiOptions & { interval: number; timeout?: number; untilDecided?: boolean };

/**
 * A server that does not serve a filter ignores it and answers unfiltered: said
 * plainly rather than shown as if filtered. (The time filters are the server's
 * to define, so only these are checked.)
 */
function checkFiltered(views: readonly TransactionView[], query: ListQuery, url: string): void {
  const checks = [
    ["status", (v: TransactionView) => query.status === undefined || v.status === query.status],
    ["protocol", (v: TransactionView) => query.protocol === undefined || v.protocol === query.protocol],
    [
      "participant",
      (v: TransactionView) =>
        query.participant === undefined || v.branches.some((b) => b.participant === query.participant),
    ],
  ] as const;
  for (const [name, holds] of checks) {
    const stray = views.find((v) => !holds(v));
    if (stray) {
      throw new Error(
        `the API at ${url} does not filter by --${name} (it answered ${stray.id}, which does not match): it predates that filter`,
      );
    }
  }
}

/** What changed since the last view: its status line, then the events not printed yet. */
function printChange(before: TransactionView | undefined, now: TransactionView): void {
  if (!before) console.log(`${now.id} (${now.protocol}): ${participantsOf(now)}`);
  if (!before || before.status !== now.status || before.phase !== now.phase) {
    console.log(`  status ${now.status}, phase ${now.phase}${now.reason ? `, reason ${now.reason}` : ""}`);
  }
  // Events only accumulate (the oldest may be dropped): the new ones are past the last one seen.
  const lastSeen = before?.events.at(-1);
  const from = lastSeen ? now.events.findIndex((e) => JSON.stringify(e) === JSON.stringify(lastSeen)) + 1 : 0;
  for (const e of now.events.slice(from)) {
    console.log(`  ${shortTime(e.at)}  ${e.type}${eventDetails(e) ? `  ${eventDetails(e)}` : ""}`);
  }
  if (before) {
    for (const [i, b] of now.branches.entries()) {
      const was = before.branches[i];
      if (was && was.state !== b.state)
        console.log(`  branch ${i} ${b.participant} ${b.action}: ${was.state} → ${b.state}`);
    }
  }
}
