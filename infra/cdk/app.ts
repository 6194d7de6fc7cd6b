/**
 * The CDK app: `npm run synth` / `deploy:*` run it through the CDK CLI. The stack
 * is generated from the same topology the local runtime uses, shaped by the same
 * environment variables (CONCORD_PREFIX, CONCORD_BANK_SERVERS, ...) read by the
 * same loadConfig, so names always match what the deployed handlers compute.
 *
 * Context (`-c key=value`): `concord:bundles` (default dist), `concord:retainData`
 * (default false), `concord:logRetentionDays` (default 30).
 */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { App } from "aws-cdk-lib";
import { RetentionDays } from "aws-cdk-lib/aws-logs";
import { loadConfig } from "../../src/config.ts";
import { BUNDLE_FILE, bundleDir } from "./bundles.ts";
import { ConcordStack, stackNameFor } from "./concord-stack.ts";
import { functionEnvironment } from "./function-environment.ts";

const app = new App({ analyticsReporting: false });
const context = (key: string): string | undefined => {
  const value: unknown = app.node.tryGetContext(`concord:${key}`);
  return value === undefined ? undefined : String(value);
};

const config = loadConfig(process.env);
const bundlesDir = resolve(context("bundles") ?? "dist");
for (const fn of config.topology.functions) {
  const file = join(bundleDir(bundlesDir, fn.entry), BUNDLE_FILE);
  if (!existsSync(file)) throw new Error(`${file} is missing: run \`npm run build\` first`);
}
const logRetentionDays = Number(context("logRetentionDays") ?? 30);
if (!Object.values(RetentionDays).includes(logRetentionDays))
  throw new Error(`concord:logRetentionDays ${logRetentionDays} is not a retention CloudWatch Logs offers`);

new ConcordStack(app, stackNameFor(config.topology.prefix), {
  description: `concord transaction coordinator (prefix ${config.topology.prefix})`,
  topology: config.topology,
  environment: functionEnvironment(config, process.env),
  bundlesDir,
  retainData: context("retainData") === "true",
  logRetention: logRetentionDays as RetentionDays,
});
app.synth();
