/**
 * Benchmark: transfers through the whole local stack (API, coordinator,
 * participants, sweeper in this process; DynamoDB Local and the SQS emulator
 * as child processes). Per concurrency level: committed transactions/s,
 * latency from POST to decision, AWS calls, DynamoDB capacity units and CPU
 * time per committed transaction, and what that would cost on AWS
 * (bench/cost-model.ts). `--hot` measures contention instead. docs/performance.md
 * explains every figure.
 *
 *   npm run bench                                  # 2-party cross-server 2PC, levels 1,8,32
 *   npm run bench -- --transfers 300 --levels 1,8,32 --json
 *   npm run bench -- --protocol saga               # withdraw, then deposit, each with its compensation
 *   npm run bench -- --one-phase                   # every branch on one participant
 *   npm run bench -- --participants 100 --levels 1 --transfers 20   # the decision of a 100-party 2PC
 *   npm run bench -- --hot --lock-policy detect    # contended accounts beside an uncontended run
 */
import { loadConfig } from "../src/config.ts";
import { type Emulators, startEmulators } from "../src/local/emulators/index.ts";
import { startRuntime } from "../src/local/runtime.ts";
import { silentLogger } from "../testkit/logging.ts";
import { type Bench, progress, progressDone } from "./driver.ts";
import { runHot } from "./hot.ts";
import { runLevels } from "./levels.ts";
import { Meter } from "./meter.ts";
import { parseOptions } from "./options.ts";

const { opts, fail } = parseOptions();

Object.assign(process.env, {
  AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID ?? "bench",
  AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY ?? "bench",
  AWS_REGION: process.env.AWS_REGION ?? "us-east-1",
});
const given =
  process.env.AWS_ENDPOINT_URL_DYNAMODB && process.env.AWS_ENDPOINT_URL_SQS
    ? {
        dynamodbEndpoint: process.env.AWS_ENDPOINT_URL_DYNAMODB,
        sqsEndpoint: process.env.AWS_ENDPOINT_URL_SQS,
      }
    : undefined;
progress("starting the emulators…");
const emulators: Pick<Emulators, "dynamodbEndpoint" | "sqsEndpoint"> & { stop(): Promise<void> } = given
  ? { ...given, stop: async () => {} }
  : await startEmulators();
const meter = new Meter();
const config = loadConfig({
  ...process.env,
  AWS_ENDPOINT_URL_DYNAMODB: emulators.dynamodbEndpoint,
  AWS_ENDPOINT_URL_SQS: emulators.sqsEndpoint,
  CONCORD_PREFIX: opts.prefix,
  // The bench measures transfers; idle e-commerce queues would only add empty polls.
  CONCORD_COMMERCE_PARTICIPANTS: "none",
  ...(opts.lockPolicy ? { CONCORD_LOCK_POLICY: opts.lockPolicy } : {}),
  // Past two, exactly the servers the transactions name, whatever the environment says.
  ...(opts.participants > 2
    ? {
        CONCORD_BANK_SERVERS: Array.from({ length: opts.participants }, (_, i) => `bank-${i + 1}`).join(","),
      }
    : {}),
});
progress("provisioning tables and queues…");
const runtime = await startRuntime({
  config,
  provision: true,
  port: 0,
  counter: meter.counter,
  visibilityTimeoutSeconds: 10,
  sweepIntervalMs: 1000,
  pollersPerQueue: opts.pollers,
  log: silentLogger(),
});
// Every DynamoDB client of the roles: the document client shares this middleware stack.
meter.meterCapacity(runtime.clients.dynamodb);
// Off but for each level's capacity pass (bench/levels.ts): nothing timed pays for it.
meter.capacityOn = false;
const url = runtime.url as string;
const bench: Bench = { opts, config, meter, url, fail };

const stop = async () => {
  await runtime.stop();
  await emulators.stop();
};
process.once("SIGINT", () => {
  void stop().finally(() => process.exit(130));
});
try {
  if (opts.hot) await runHot(bench, opts.transfers ?? 300);
  else await runLevels(bench, opts.transfers ?? 200);
} finally {
  progressDone();
  await stop();
}
