/**
 * `concord`: run concord on this machine. `start` runs everything in one process
 * on emulators it starts itself; the other commands run pieces separately.
 */
import { rm } from "node:fs/promises";
import { homedir } from "node:os";
import { resolve } from "node:path";
import { Command, InvalidArgumentError, Option } from "commander";
import { awsFaultInjector, faultyBus, parseFaultPlanText } from "../../testkit/faults/fault-plan.ts";
import { createAwsClients, destroyAwsClients } from "../adapters/aws-clients.ts";
import { authEnabled } from "../api/auth.ts";
import { portArg } from "../cli-args.ts";
import { type Config, DEFAULT_DATA_DIR, loadConfig } from "../config.ts";
import { addDlqCommands } from "./dlq-commands.ts";
import { type Emulators, startEmulators, stopAllEmulatorsSync } from "./emulators/index.ts";
import { provision } from "./provision.ts";
import { ALL_ROLES, type RoleName, type Runtime, startRuntime } from "./runtime.ts";
import { publishLocalStack, readLocalStack, stackFilePath } from "./stack-file.ts";
import { addTxCommands } from "./tx-commands.ts";

/** The local queues' settings: retries within seconds, not Lambda's minute. */
const localQueues = ({ local }: Config) => ({
  visibilityTimeoutSeconds: local.visibilityTimeoutSeconds,
  ...(local.maxReceiveCount !== undefined ? { maxReceiveCount: local.maxReceiveCount } : {}),
});

/**
 * This process's configuration, read once: its environment over the local
 * defaults. The emulators need credentials of some kind (they check none); the
 * clients get them from the configuration, so this process's environment is
 * never changed.
 */
function localConfig(defaults: Record<string, string> = {}): Config {
  return loadConfig({
    AWS_ACCESS_KEY_ID: "local",
    AWS_SECRET_ACCESS_KEY: "local",
    AWS_REGION: "us-east-1",
    CONCORD_SWEEP_INTERVAL_SECONDS: "1",
    ...defaults,
    ...process.env,
  });
}

/** The configuration with the endpoints of emulators this process started. */
const withEndpoints = (config: Config, emulators: Emulators): Config => ({
  ...config,
  endpoints: { dynamodb: emulators.dynamodbEndpoint, sqs: emulators.sqsEndpoint },
});

/**
 * Commands that talk to a running stack: without AWS_ENDPOINT_URL_* of their own,
 * they use the local stack `npm start` or `concord emulators` published, if it runs.
 */
function stackConfig(): Config {
  const config = localConfig();
  if (config.endpoints.dynamodb || config.endpoints.sqs) return config;
  const dataDir = resolve(config.local.dataDir);
  const stack = readLocalStack(dataDir);
  if (!stack) {
    console.warn(
      `no AWS_ENDPOINT_URL_* set and no local stack running (none in ${stackFilePath(dataDir)}): talking to AWS. ` +
        "Start one with `npm start`, or set the AWS_ENDPOINT_URL_DYNAMODB=… AWS_ENDPOINT_URL_SQS=… lines it prints.",
    );
    return config;
  }
  console.warn(`using the local stack of pid ${stack.pid} (${stackFilePath(dataDir)})`);
  return { ...config, endpoints: { dynamodb: stack.dynamodbEndpoint, sqs: stack.sqsEndpoint } };
}

/** The API of the local stack `npm start` published in this directory, if it runs. */
const localApiUrl = (): string | undefined => readLocalStack(resolve(localConfig().local.dataDir))?.api;

function announceAuth(config: Config): void {
  if (!authEnabled({ client: config.apiKeys, admin: config.adminKeys })) {
    console.warn(
      [
        "",
        "  !!! AUTH IS OFF: no CONCORD_API_KEYS or CONCORD_ADMIN_KEYS are set. !!!",
        "  !!! Anyone who can reach this port may run and abort transactions.  !!!",
        "",
      ].join("\n"),
    );
  }
}

function announcePrivateAddresses(config: Config): void {
  if (config.http.allowPrivate) {
    console.warn(
      [
        "",
        "  !!! HTTP participants may be registered at loopback and private addresses  !!!",
        "  !!! (CONCORD_HTTP_PARTICIPANT_ALLOW_PRIVATE=true): fine on this machine,     !!!",
        "  !!! never on a deployment that others can reach.                             !!!",
        "",
      ].join("\n"),
    );
  }
}

/** Stops what is running on SIGINT/SIGTERM; a second signal kills the emulators at once. */
function onSignals(stop: () => Promise<void>): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) {
      stopAllEmulatorsSync();
      process.exit(130);
    }
    stopping = true;
    console.error(`\n${signal}: stopping…`);
    stop()
      .then(() => process.exit(0))
      .catch((err) => {
        console.error(err);
        stopAllEmulatorsSync();
        process.exit(1);
      });
  };
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
}

const program = new Command("concord")
  .description(
    "Distributed transactions (2PC and sagas) over DynamoDB and SQS: run concord locally on embedded emulators, and operate any concord (tx, dlq).",
  )
  .showHelpAfterError();

program
  .command("start")
  .description("start the emulators and every role in this process, and serve the API on 127.0.0.1")
  .addOption(new Option("-p, --port <port>", "API port").env("PORT").default(3000).argParser(portArg))
  .option(
    "-d, --data-dir <dir>",
    `where DynamoDB keeps its data across restarts (default: CONCORD_DATA_DIR, else ${DEFAULT_DATA_DIR})`,
  )
  .option("--in-memory", "keep no data on disk")
  .option("--fresh", "delete the data directory first: start from no accounts and no transactions")
  .action(async (opts: { port: number; dataDir?: string; inMemory?: boolean; fresh?: boolean }) => {
    // A service on this machine can be a participant; said loudly below, and never deployed.
    const local = localConfig({ CONCORD_HTTP_PARTICIPANT_ALLOW_PRIVATE: "true" });
    const dataDirOption = resolve(opts.dataDir ?? local.local.dataDir);
    const dataDir = opts.inMemory ? undefined : dataDirOption;
    if (opts.fresh) await deleteDataDir(dataDirOption);
    console.log(
      `starting DynamoDB Local (${dataDir ? `data in ${dataDir}` : "in memory"}) and the SQS emulator…`,
    );
    const emulators = await startEmulators(dataDir ? { dataDir } : {});
    let runtime: Runtime | undefined;
    onSignals(async () => {
      await runtime?.stop();
      await emulators.stop();
    });
    const config = withEndpoints(local, emulators);
    try {
      runtime = await startRuntime({
        config,
        port: opts.port,
        provision: true,
        ...localQueues(config),
      });
    } catch (err) {
      await emulators.stop();
      throw err;
    }
    announceAuth(config);
    announcePrivateAddresses(config);
    const stackFile = publishLocalStack(dataDirOption, {
      dynamodbEndpoint: emulators.dynamodbEndpoint,
      sqsEndpoint: emulators.sqsEndpoint,
      ...(runtime.url ? { api: runtime.url } : {}),
    });
    printWelcome(runtime.url ?? "", config, emulators, stackFile);
  });

program
  .command("emulators")
  .description("start only the emulators and print the environment that points roles at them")
  .option(
    "-d, --data-dir <dir>",
    `DynamoDB data directory (default: CONCORD_DATA_DIR, else ${DEFAULT_DATA_DIR})`,
  )
  .option("--in-memory", "keep no data on disk")
  .option("--dynamodb-port <port>", "fixed DynamoDB port", portArg)
  .option("--sqs-port <port>", "fixed SQS port", portArg)
  .action(async (opts: { dataDir?: string; inMemory?: boolean; dynamodbPort?: number; sqsPort?: number }) => {
    const dataDirOption = resolve(opts.dataDir ?? localConfig().local.dataDir);
    const dataDir = opts.inMemory ? undefined : dataDirOption;
    const emulators = await startEmulators({
      ...(dataDir ? { dataDir } : {}),
      ...(opts.dynamodbPort !== undefined ? { dynamodbPort: opts.dynamodbPort } : {}),
      ...(opts.sqsPort !== undefined ? { sqsPort: opts.sqsPort } : {}),
    });
    // The emulators' child processes do not keep this process alive (they die with it):
    // this does, until a signal stops them.
    const keepAlive = setInterval(() => {}, 1 << 30);
    onSignals(async () => {
      clearInterval(keepAlive);
      await emulators.stop();
    });
    const stackFile = publishLocalStack(dataDirOption, {
      dynamodbEndpoint: emulators.dynamodbEndpoint,
      sqsEndpoint: emulators.sqsEndpoint,
    });
    console.log(`AWS_ENDPOINT_URL_DYNAMODB=${emulators.dynamodbEndpoint}`);
    console.log(`AWS_ENDPOINT_URL_SQS=${emulators.sqsEndpoint}`);
    console.log(`(also in ${stackFile}: provision, role and dlq in this directory find them there)`);
    console.log("emulators running; Ctrl-C stops them");
  });

program
  .command("provision")
  .description("create the tables and queues of the topology (idempotent) at AWS_ENDPOINT_URL_*")
  .action(async () => {
    const config = stackConfig();
    const clients = createAwsClients(config);
    try {
      const urls = await provision(config.topology, clients, localQueues(config));
      for (const [name, url] of urls) console.log(`${name}\t${url}`);
    } finally {
      destroyAwsClients(clients);
    }
  });

addDlqCommands(program, { stackConfig });
addTxCommands(program, { localApiUrl });

program
  .command("role")
  .description("run some roles in this process against AWS_ENDPOINT_URL_* (crash tests run each role alone)")
  .argument("<roles...>", `any of ${ALL_ROLES.join(", ")}`)
  .option(
    "--participant <names...>",
    "participants to serve: bank servers, inventory, payment, order, shipping (default: all)",
  )
  .addOption(
    new Option("-p, --port <port>", "API port, when running the api role").env("PORT").argParser(portArg),
  )
  .option("--provision", "create tables and queues first")
  .action(async (names: string[], opts: { participant?: string[]; port?: number; provision?: boolean }) => {
    for (const n of names) {
      if (!(ALL_ROLES as readonly string[]).includes(n)) throw new InvalidArgumentError(`unknown role ${n}`);
    }
    const config = stackConfig();
    const roles = names as RoleName[];
    // CONCORD_FAULTS: drop, duplicate and delay this process's sends, and fail some AWS calls.
    const plan = parseFaultPlanText(config.faults.planText);
    const faults = plan && awsFaultInjector(plan);
    const runtime = await startRuntime({
      config,
      roles,
      ...(plan ? { roleOptions: { wrapBus: (bus) => faultyBus(bus, plan) } } : {}),
      ...(faults ? { faults } : {}),
      provision: opts.provision ?? false,
      ...localQueues(config),
      ...(opts.participant ? { participants: opts.participant } : {}),
      ...(roles.includes("api") ? { port: opts.port ?? 3000 } : {}),
    });
    onSignals(() => runtime.stop());
    if (roles.includes("api")) announceAuth(config);
    if (roles.includes("api") || roles.includes("dispatcher")) announcePrivateAddresses(config);
    console.log(`running ${roles.join(", ")}${runtime.url ? ` (API at ${runtime.url})` : ""}`);
  });

/** `--fresh`: the data directory goes, after a check that it is not something bigger. */
async function deleteDataDir(dir: string): Promise<void> {
  if (dir === resolve("/") || dir === process.cwd() || dir === homedir()) {
    throw new InvalidArgumentError(
      `--fresh will not delete ${dir}; point --data-dir at a directory of its own`,
    );
  }
  await rm(dir, { recursive: true, force: true });
  console.log(`--fresh: deleted ${dir}`);
}

function printWelcome(url: string, config: Config, emulators: Emulators, stackFile: string): void {
  const [b1 = "bank-1", b2 = "bank-2"] = config.bankServers;
  console.log(`
concord is running.
  API          ${url}
  DynamoDB     ${emulators.dynamodbEndpoint}
  SQS          ${emulators.sqsEndpoint}
  bank servers ${config.bankServers.join(", ")}
  e-commerce   ${config.commerce.participants.join(", ") || "none"} (docs/participants.md)

Try it:
  curl -X PUT ${url}/v1/bank/${b1}/accounts/alice -d '{"balance":1000}'
  curl -X PUT ${url}/v1/bank/${b2}/accounts/bob   -d '{"balance":0}'
  curl -X POST '${url}/v1/transfers?wait=5000' -d '[
    {"server_id":"${b1}","account_id":"alice","operation":"withdraw","amount":100},
    {"server_id":"${b2}","account_id":"bob","operation":"deposit","amount":100}]'

Other commands in this directory (npm run concord -- dlq, provision, role) find this stack
by themselves (${stackFile}); anything else, point it here:
  export AWS_ENDPOINT_URL_DYNAMODB=${emulators.dynamodbEndpoint} AWS_ENDPOINT_URL_SQS=${emulators.sqsEndpoint}

Ctrl-C stops concord and its emulators.`);
}

program.parseAsync().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  stopAllEmulatorsSync();
  process.exit(1);
});
