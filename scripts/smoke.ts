/**
 * `npm run smoke -- --url URL [--key KEY | --secret ARN] [--localstack]` (`--help` for all options)
 *
 * Runs one transfer against a deployed concord (AWS, LocalStack, or `npm start`):
 * creates two accounts on two bank servers, moves 100 between them with 2PC, waits
 * until every participant has applied it, checks the balances, prints the outcome.
 * Exits 0 only if the transfer committed and the balances are right.
 *
 * The admin key (account seeding needs it) comes from --key, CONCORD_ADMIN_KEY, or
 * the stack's secret (--secret, read with your AWS credentials; with --localstack,
 * from LocalStack). Without any, requests go without a key (auth off, as locally).
 */
import { randomUUID } from "node:crypto";
import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { Command, Option } from "commander";
import { intArg, usageErrorsExit } from "../src/cli-args.ts";
import { loadConfig } from "../src/config.ts";
import { sleep } from "../src/timers.ts";

export interface SmokeOptions {
  readonly url: string;
  readonly key?: string;
  /** Two bank servers of the deployment. */
  readonly servers?: readonly [string, string];
  readonly timeoutMs?: number;
  readonly log?: (line: string) => void;
}

export interface SmokeResult {
  readonly ok: boolean;
  readonly id: string;
  readonly status: string;
  readonly phase?: string;
  readonly reason?: string;
  readonly ms: number;
  readonly balances: readonly [number, number];
}

interface View {
  readonly id: string;
  readonly status: string;
  readonly phase?: string;
  readonly reason?: string;
  readonly completedAt?: string;
}

export async function runSmoke(options: SmokeOptions): Promise<SmokeResult> {
  const base = options.url.replace(/\/+$/, "");
  const [from, to] = options.servers ?? ["bank-1", "bank-2"];
  const log = options.log ?? console.log;
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  const run = randomUUID().slice(0, 8);
  const alice = `smoke-${run}-a`;
  const bob = `smoke-${run}-b`;

  async function call<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        "content-type": "application/json",
        ...(options.key ? { authorization: `Bearer ${options.key}` } : {}),
        ...headers,
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    if (res.status >= 400) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 300)}`);
    return { status: res.status, body: JSON.parse(text) as T };
  }
  const balance = async (server: string, account: string) =>
    (await call<{ balance: number }>("GET", `/v1/bank/${server}/accounts/${account}`)).body.balance;

  const health = await call<{ status: string }>("GET", "/health");
  log(`health: ${health.body.status}`);
  await call("PUT", `/v1/bank/${from}/accounts/${alice}`, { balance: 1000 });
  await call("PUT", `/v1/bank/${to}/accounts/${bob}`, { balance: 0 });
  log(`accounts: ${from}/${alice} = 1000, ${to}/${bob} = 0`);

  const started = Date.now();
  const id = `smoke-${run}`;
  let view = (
    await call<View>(
      "POST",
      "/v1/transfers?wait=10000",
      [
        { server_id: from, account_id: alice, operation: "withdraw", amount: 100 },
        { server_id: to, account_id: bob, operation: "deposit", amount: 100 },
      ],
      { "idempotency-key": id },
    )
  ).body;
  log(`transfer ${view.id}: ${view.status} after ${Date.now() - started} ms`);
  // Committed as soon as the decision is durable; applied once every participant acknowledged.
  while (!(view.status === "aborted" || view.completedAt) && Date.now() < deadline) {
    await sleep(500);
    view = (await call<View>("GET", `/v1/transactions/${encodeURIComponent(view.id)}`)).body;
  }
  const ms = Date.now() - started;
  const balances = [await balance(from, alice), await balance(to, bob)] as const;
  const ok =
    view.status === "committed" && Boolean(view.completedAt) && balances[0] === 900 && balances[1] === 100;
  log(
    `outcome: ${view.status} (phase ${view.phase ?? "?"}${view.reason ? `, reason ${view.reason}` : ""}) in ${ms} ms; ` +
      `balances ${from}/${alice} = ${balances[0]}, ${to}/${bob} = ${balances[1]} -> ${ok ? "OK" : "FAILED"}`,
  );
  return {
    ok,
    id: view.id,
    status: view.status,
    ...(view.phase ? { phase: view.phase } : {}),
    ...(view.reason ? { reason: view.reason } : {}),
    ms,
    balances,
  };
}

/** The admin key from the stack's secret (`{"adminKeys":"k1,k2",...}`): the first one. */
async function keyFromSecret(secretId: string, localstack: boolean): Promise<string> {
  const { region, lambda } = loadConfig(process.env);
  const client = new SecretsManagerClient(
    localstack
      ? {
          region,
          endpoint: lambda.secretsManagerEndpoint ?? "http://127.0.0.1:4566",
          credentials: { accessKeyId: "test", secretAccessKey: "test" },
        }
      : {},
  );
  try {
    const { SecretString } = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
    const key = String((JSON.parse(SecretString ?? "{}") as { adminKeys?: string }).adminKeys ?? "").split(
      ",",
    )[0];
    if (!key) throw new Error(`secret ${secretId} has no adminKeys`);
    return key.trim();
  } finally {
    client.destroy();
  }
}

async function main(): Promise<void> {
  const program = usageErrorsExit(
    new Command("npm run smoke --")
      .description(
        "Runs one transfer against a deployed concord and prints the outcome; exit 0 only if it committed.",
      )
      .requiredOption("--url <url>", "the API's base URL")
      .addOption(
        new Option("--key <key>", "an admin key (account seeding needs it)").env("CONCORD_ADMIN_KEY"),
      )
      .option("--secret <arn>", "read the admin key from the stack's secret, with your AWS credentials")
      .option("--localstack", "read --secret from LocalStack", false)
      .option("--servers <a,b>", "two bank servers of the deployment", "bank-1,bank-2")
      .option("--timeout <ms>", "how long to wait for the outcome", intArg(1), 60_000),
    2,
  );
  const values = program.parse().opts<{
    url: string;
    key?: string;
    secret?: string;
    localstack: boolean;
    servers: string;
    timeout: number;
  }>();
  const [a, b] = values.servers.split(",");
  if (!a || !b) throw new Error("--servers needs two bank servers, e.g. bank-1,bank-2");
  const key =
    values.key ?? (values.secret ? await keyFromSecret(values.secret, values.localstack) : undefined);
  const result = await runSmoke({
    url: values.url,
    ...(key ? { key } : {}),
    servers: [a, b],
    timeoutMs: values.timeout,
  });
  process.exit(result.ok ? 0 : 1);
}

if (import.meta.filename === process.argv[1]) {
  main().catch((err: unknown) => {
    console.error(`smoke failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
