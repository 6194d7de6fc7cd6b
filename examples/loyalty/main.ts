/**
 * `npm run example:loyalty [-- --port N]`: the loyalty service on 127.0.0.1,
 * port `--port`, else LOYALTY_PORT, else 4000. Register it with concord as
 * `http://127.0.0.1:<port>/concord` (README, "A service of your own, over HTTP").
 */
import { parseArgs } from "node:util";
import { serve } from "@hono/node-server";
import { loyaltyApp } from "./service.ts";

const { values } = parseArgs({ options: { port: { type: "string" } } });
const raw = values.port ?? process.env.LOYALTY_PORT ?? "4000";
const port = Number(raw);
if (!Number.isInteger(port) || port < 0 || port > 65_535) {
  console.error(`a port is an integer 0-65535, not ${raw}`);
  process.exit(2);
}

const server = serve({ fetch: loyaltyApp().fetch, port, hostname: "127.0.0.1" }, (info) => {
  console.log(
    `loyalty service listening on http://127.0.0.1:${info.port} (concord endpoints under /concord)`,
  );
});
const stop = () => server.close(() => process.exit(0));
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
