/** The participant as a Hono sub-app: `app.route("/concord", participantApp(options))`. */
import { Hono } from "hono";
import { createParticipantHandler, type ParticipantOptions } from "./handler.ts";

export function participantApp(options: ParticipantOptions): Hono {
  const handle = createParticipantHandler(options);
  const app = new Hono();
  // The raw request: the signature covers the path as the dispatcher sent it, prefix included.
  app.post("/:endpoint{prepare|commit|rollback|action|compensate}", (c) => handle(c.req.raw));
  return app;
}
