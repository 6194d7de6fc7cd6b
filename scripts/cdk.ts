/**
 * Runs the CDK CLI on concord's app (infra/cdk/app.ts) for a target:
 *
 *   synth                    bundle, write the template to cdk.out/ (offline: no AWS, no Docker)
 *   deploy  localstack|aws   bundle, bootstrap (idempotent), deploy, print the function URL
 *   destroy localstack|aws   delete the stack
 *
 * LocalStack goes through `cdklocal` (aws-cdk-local), which points the CDK CLI at
 * http://localhost.localstack.cloud:4566 with test credentials; AWS through `cdk`
 * with your usual credentials (AWS_PROFILE, AWS_REGION, ...). The stack's settings
 * come from CONCORD_* variables (CONCORD_PREFIX, CONCORD_BANK_SERVERS, ...).
 * Anything after the target goes to the CDK CLI, e.g. `-c concord:retainData=true`.
 */
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { Command } from "commander";
import { stackNameFor } from "../infra/cdk/concord-stack.ts";
import { functionEnvironment } from "../infra/cdk/function-environment.ts";
import { choiceArg, usageErrorsExit } from "../src/cli-args.ts";
import { loadConfig } from "../src/config.ts";
import { bundleFunctions } from "./bundle.ts";

type Target = (typeof TARGETS)[number];
interface StackOutputs {
  readonly FunctionUrl?: string;
  readonly ApiKeysSecretArn?: string;
}

const ROOT = join(import.meta.dirname, "..");
const OUT = "cdk.out";
const APP = `${JSON.stringify(process.execPath)} --import tsx infra/cdk/app.ts`;
/** Where docker-compose.yml publishes LocalStack. */
const LOCALSTACK = "http://127.0.0.1:4566";

function run(command: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const bin = join(ROOT, "node_modules", ".bin", command);
  console.log(`\n$ ${command} ${args.join(" ")}`);
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { cwd: ROOT, stdio: "inherit", env });
    child.on("error", reject);
    child.on("exit", (code, signal) =>
      code === 0
        ? resolve()
        : reject(new Error(`${command} ${args[0]} failed (${signal ?? `exit ${code}`})`)),
    );
  });
}

async function bundle(): Promise<void> {
  for (const b of await bundleFunctions()) {
    console.log(`${relative(ROOT, b.outfile).padEnd(36)} ${(b.bytes / 1024).toFixed(0).padStart(6)} KiB`);
  }
}

/** What the functions will be given, so a stray setting in this shell is seen before it is deployed. */
function describeSettings(): string {
  const config = loadConfig(process.env);
  const settings = functionEnvironment(config, process.env);
  console.log(`stack ${stackNameFor(config.topology.prefix)}; function settings:`);
  for (const [key, value] of Object.entries(settings)) console.log(`  ${key}=${value}`);
  return stackNameFor(config.topology.prefix);
}

async function localStackIsUp(): Promise<boolean> {
  try {
    const res = await fetch(`${LOCALSTACK}/_localstack/health`, { signal: AbortSignal.timeout(3000) });
    return res.ok;
  } catch {
    return false;
  }
}

function readOutputs(file: string, stack: string): StackOutputs {
  const all = JSON.parse(readFileSync(join(ROOT, file), "utf8")) as Record<string, StackOutputs>;
  return all[stack] ?? {};
}

async function synth(cdkArgs: readonly string[]): Promise<void> {
  await bundle();
  describeSettings();
  // Offline: no notices or telemetry to fetch or send.
  await run("cdk", ["synth", "--app", APP, "--output", OUT, "--no-notices", "--quiet", ...cdkArgs], {
    ...process.env,
    CDK_DISABLE_CLI_TELEMETRY: "true",
  });
  const templates = readdirSync(join(ROOT, OUT)).filter((f) => f.endsWith(".template.json"));
  for (const t of templates) console.log(`wrote ${join(OUT, t)}`);
}

async function deploy(target: Target, cdkArgs: readonly string[]): Promise<void> {
  const cli = target === "localstack" ? "cdklocal" : "cdk";
  if (target === "localstack" && !(await localStackIsUp())) {
    console.error(
      `LocalStack does not answer at ${LOCALSTACK}: start it with \`docker compose up -d --wait\``,
    );
    process.exit(1);
  }
  await bundle();
  const stack = describeSettings();
  const common = ["--app", APP, "--output", OUT, "--no-notices", ...cdkArgs];
  await run(cli, ["bootstrap", ...common]);
  const outputsFile = join(OUT, `outputs-${target}.json`);
  await run(cli, [
    "deploy",
    "--all",
    "--outputs-file",
    outputsFile,
    ...(target === "localstack" ? ["--require-approval", "never"] : []),
    ...common,
  ]);
  const outputs = readOutputs(outputsFile, stack);
  console.log(
    `\nconcord is deployed to ${target === "localstack" ? "LocalStack" : "AWS"} as stack ${stack}.`,
  );
  console.log(`API (Lambda function URL): ${outputs.FunctionUrl ?? "(not in the outputs)"}`);
  if (outputs.ApiKeysSecretArn) {
    const endpoint = target === "localstack" ? `AWS_ENDPOINT_URL=${LOCALSTACK} ` : "";
    console.log(`API keys: in the secret ${outputs.ApiKeysSecretArn}`);
    console.log(
      `Try it:   ${endpoint}npm run smoke -- --url ${outputs.FunctionUrl} --secret ${outputs.ApiKeysSecretArn}`,
    );
  }
}

async function destroy(target: Target, cdkArgs: readonly string[]): Promise<void> {
  const cli = target === "localstack" ? "cdklocal" : "cdk";
  const stack = describeSettings();
  if (!existsSync(join(ROOT, "dist"))) await bundle(); // the app refers to the bundles even to delete
  await run(cli, [
    "destroy",
    "--all",
    ...(target === "localstack" ? ["--force"] : []),
    "--app",
    APP,
    "--output",
    OUT,
    "--no-notices",
    ...cdkArgs,
  ]);
  console.log(`stack ${stack} is gone from ${target === "localstack" ? "LocalStack" : "AWS"}.`);
}

const TARGETS = ["localstack", "aws"] as const;
const targetArg = choiceArg(TARGETS);
const cdkArgsHelp = "passed on to the CDK CLI, e.g. -c concord:retainData=true";
/** Runs a step; a failure prints its message and exits 1 (a usage error exits 2). */
const step =
  <A extends unknown[]>(fn: (...args: A) => Promise<void>) =>
  async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      console.error(err instanceof Error ? err.message : err);
      process.exit(1);
    }
  };
const program = usageErrorsExit(
  new Command("tsx scripts/cdk.ts").description("Runs the CDK CLI on concord's app (infra/cdk/app.ts)."),
  2,
);
/** A command; anything after its target, options included, goes to the CDK CLI. */
const cdkCommand = (name: string, description: string) =>
  program.command(name).description(description).allowUnknownOption();

cdkCommand("synth", "bundle, write the template to cdk.out/ (offline: no AWS, no Docker)")
  .argument("[cdk-args...]", cdkArgsHelp)
  .action(step((cdkArgs: string[]) => synth(cdkArgs)));
for (const [name, description, run] of [
  ["deploy", "bundle, bootstrap (idempotent), deploy, print the function URL", deploy],
  ["destroy", "delete the stack", destroy],
] as const) {
  cdkCommand(name, description)
    .argument("<target>", TARGETS.join(" or "), targetArg)
    .argument("[cdk-args...]", cdkArgsHelp)
    .action(step((target: Target, cdkArgs: string[]) => run(target, cdkArgs)));
}
await program.parseAsync();
