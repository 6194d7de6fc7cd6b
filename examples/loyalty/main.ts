/**
 * `npm run example:loyalty [-- --port N]`: the loyalty service on 127.0.0.1,
 * port `--port`, else LOYALTY_PORT, else 4000. Register it with concord as
 * `http://127.0.0.1:<port>/concord` (README, "A service of your own, over HTTP").
 */
import { serve } from "@hono/node-server";
import { Command, Option } from "commander";
import { portArg, usageErrorsExit } from "../../src/cli-args.ts";
import { loyaltyApp } from "./service.ts";

const { port } = usageErrorsExit(
  new Command("npm run example:loyalty --")
    .description("The example loyalty service, an HTTP participant, on 127.0.0.1.")
    .addOption(
      new Option("--port <port>", "port to listen on").env("LOYALTY_PORT").argParser(portArg).default(4000),
    ),
  2,
)
  .parse()
  .opts<{ port: number }>();

const server = serve({ fetch: loyaltyApp().fetch, port, hostname: "127.0.0.1" }, (info) => {
  console.log(
    `loyalty service listening on http://127.0.0.1:${info.port} (concord endpoints under /concord)`,
  );
});
const stop = () => server.close(() => process.exit(0));
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
