/**
 * `npm run openapi`: prints the API's OpenAPI 3.1 document (what `GET /openapi.json`
 * serves) for the local default configuration, without starting anything; `--out FILE`
 * writes it there instead. Clients and type generators can read it at build time.
 */
import { writeFileSync } from "node:fs";
import { Command } from "commander";
import { createAwsClients, destroyAwsClients } from "../src/adapters/aws-clients.ts";
import { documentOf } from "../src/api/app.ts";
import { usageErrorsExit } from "../src/cli-args.ts";
import { loadConfig } from "../src/config.ts";
import { createRootLogger } from "../src/log.ts";
import { apiRole } from "../src/roles.ts";
import { createWiring } from "../src/wiring.ts";

const { out } = usageErrorsExit(
  new Command("npm run openapi --")
    .description("Prints the API's OpenAPI 3.1 document (GET /openapi.json) without starting anything.")
    .option("--out <file>", "write it to this file instead"),
  2,
)
  .parse()
  .opts<{ out?: string }>();

// The SDK clients are built but never called: the document needs only the routes.
const config = loadConfig({
  AWS_ACCESS_KEY_ID: "local",
  AWS_SECRET_ACCESS_KEY: "local",
  AWS_REGION: "us-east-1",
  ...process.env,
});
const clients = createAwsClients(config);
try {
  const wiring = createWiring(config, clients, { log: createRootLogger("ERROR") });
  const text = `${JSON.stringify(documentOf(apiRole(wiring, "").http), null, 2)}\n`;
  if (out) writeFileSync(out, text);
  else process.stdout.write(text);
} finally {
  destroyAwsClients(clients);
}
