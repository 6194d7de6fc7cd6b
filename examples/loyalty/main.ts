/**
 * `npm run example:loyalty [-- --port N] [-- --dynamodb TABLE]`: the loyalty
 * service on 127.0.0.1, port `--port`, else LOYALTY_PORT, else 4000. Points
 * and barriers in memory (lost on restart), or with `--dynamodb` (or
 * LOYALTY_DYNAMODB_TABLE) in that DynamoDB table, created if missing, at
 * AWS_ENDPOINT_URL_DYNAMODB when set (`npm start` prints it). Register it with
 * concord as `http://127.0.0.1:<port>/concord` (README, "A service of your
 * own, over HTTP"). With CONCORD_HTTP_PARTICIPANT_SECRET set, only calls
 * signed with it run.
 */
import {
  CreateTableCommand,
  DynamoDBClient,
  ResourceInUseException,
  waitUntilTableExists,
} from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { serve } from "@hono/node-server";
import { Command, Option } from "commander";
import {
  barrierTableDefinition,
  createDynamoDbBarrierStore,
} from "../../packages/participant/src/dynamodb-store.ts";
import { createMemoryBarrierStore } from "../../packages/participant/src/memory-store.ts";
import type { BarrierStore } from "../../packages/participant/src/store.ts";
import { portArg, usageErrorsExit } from "../../src/cli-args.ts";
import { loyaltyApp } from "./service.ts";

const STATES_BY_ENDPOINT: Record<string, readonly string[]> = {
  prepare: ["prepared"],
  commit: ["committed"],
  rollback: ["rolled_back"],
  action: ["done"],
  compensate: ["compensated"],
};

const { port, dynamodb, secret, exitAfterWrite } = usageErrorsExit(
  new Command("npm run example:loyalty --")
    .description("The example loyalty service, an HTTP participant, on 127.0.0.1.")
    .addOption(
      new Option("--port <port>", "port to listen on").env("LOYALTY_PORT").argParser(portArg).default(4000),
    )
    .addOption(
      new Option("--dynamodb <table>", "keep points and barriers in this DynamoDB table").env(
        "LOYALTY_DYNAMODB_TABLE",
      ),
    )
    .addOption(
      new Option("--secret <secret>", "the secret concord signs its calls with")
        .env("CONCORD_HTTP_PARTICIPANT_SECRET")
        .hideHelp(),
    )
    .addOption(
      // Fault injection for the crash tests: dies right after the first write of this step, before answering.
      new Option("--exit-after-write <endpoint>")
        .env("LOYALTY_EXIT_AFTER_WRITE")
        .choices(Object.keys(STATES_BY_ENDPOINT))
        .hideHelp(),
    ),
  2,
)
  .parse()
  .opts<{ port: number; dynamodb?: string; secret?: string; exitAfterWrite?: string }>();

async function openStore(): Promise<BarrierStore> {
  if (!dynamodb) return createMemoryBarrierStore();
  const client = new DynamoDBClient({});
  try {
    await client.send(new CreateTableCommand(barrierTableDefinition(dynamodb)));
    await waitUntilTableExists({ client, maxWaitTime: 60 }, { TableName: dynamodb });
  } catch (err) {
    if (!(err instanceof ResourceInUseException)) throw err;
  }
  return createDynamoDbBarrierStore({ client: DynamoDBDocumentClient.from(client), tableName: dynamodb });
}

function exitingAfterWrite(store: BarrierStore, endpoint: string): BarrierStore {
  const states = STATES_BY_ENDPOINT[endpoint] ?? [];
  return {
    get: (key, incarnation) => store.get(key, incarnation),
    newest: (key) => store.newest(key),
    readItem: (key) => store.readItem(key),
    async put(record, expectedVersion, writes) {
      const result = await store.put(record, expectedVersion, writes);
      if (result.written && states.includes(record.state)) {
        console.log(`loyalty service exits after the ${endpoint} write, before its answer`);
        process.exit(75);
      }
      return result;
    },
  };
}

const base = await openStore();
const store = exitAfterWrite ? exitingAfterWrite(base, exitAfterWrite) : base;
if (!secret) console.log("loyalty service: no CONCORD_HTTP_PARTICIPANT_SECRET, calls are not checked");
const server = serve(
  { fetch: loyaltyApp({ store, ...(secret ? { secret } : {}) }).fetch, port, hostname: "127.0.0.1" },
  (info) => {
    console.log(
      `loyalty service listening on http://127.0.0.1:${info.port} (concord endpoints under /concord${dynamodb ? `, table ${dynamodb}` : ", in memory"})`,
    );
  },
);
const stop = () => server.close(() => process.exit(0));
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
