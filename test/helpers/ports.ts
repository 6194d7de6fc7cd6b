/** Ports for the servers a test starts by command, which listen on them only later. */
import { createServer } from "node:net";

/** Whether `port` can be listened on now. */
function bindable(port: number): Promise<boolean> {
  return new Promise((done) => {
    const server = createServer();
    server.once("error", () => done(false));
    server.listen(port, "127.0.0.1", () => server.close(() => done(true)));
  });
}

/**
 * A port free now and below the ephemeral range (Linux: 32768 and up): a server
 * started later listens on it, and meanwhile the suite's outgoing connections
 * take ephemeral ports, one of which could be a port the OS handed out free.
 */
export async function freePort(): Promise<number> {
  for (let tries = 0; tries < 200; tries++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (await bindable(port)) return port;
  }
  throw new Error("no free port between 20000 and 32000");
}
