// Child process that serves fauxqs (an SQS emulator) on 127.0.0.1 only.
// Plain JavaScript so it runs with `node` alone, no tsx.
//
// Usage: node sqs-emulator-child.mjs <port> <region>
// Prints "LISTENING <port>" when ready; exits on stdin EOF (the parent is gone),
// SIGTERM or SIGINT.
//
// Why not startFauxqs(): it listens on 0.0.0.0 unconditionally.
// Why our own SqsStore: fauxqs's default store builds queue URLs as
// http://sqs.<region>.localhost:<port>/...; with an empty `host` it uses the
// request's Host header instead, so URLs point at 127.0.0.1:<port>, the address
// clients use. SqsStore is not exported, hence the import by file URL next to
// the package entry (fauxqs is pinned to an exact version for this reason; checked
// against 2.4.1, whose buildApp still takes a lone sqsStore).
import { buildApp } from "fauxqs";

const port = Number(process.argv[2] ?? "0");
const region = process.argv[3] ?? "us-east-1";
const FORCED_EXIT_MS = 3000;

const { SqsStore } = await import(new URL("./sqs/sqsStore.js", import.meta.resolve("fauxqs")).href);
const sqsStore = new SqsStore();
sqsStore.host = "";

const app = buildApp({ logger: false, defaultRegion: region, stores: { sqsStore } });

let closing = false;
function shutdown() {
  if (closing) return;
  closing = true;
  // Long polls are cancelled by fauxqs's preClose hook; the timer is a last resort.
  setTimeout(() => process.exit(0), FORCED_EXIT_MS).unref();
  app.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
}

process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
process.stdin.on("end", shutdown);
process.stdin.on("error", shutdown);
process.stdin.resume();

try {
  await app.listen({ port, host: "127.0.0.1" });
} catch (err) {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
}
const address = app.server.address();
const actualPort = typeof address === "object" && address ? address.port : port;
process.stdout.write(`LISTENING ${actualPort}\n`);
