/**
 * How late timers fire when the schedule is coarse. EventBridge invokes the
 * sweeper (and each participant's in-doubt function) once a minute; one
 * invocation passes every timer tick through its run. Here the "minute" is
 * CONCORD_SCHEDULED_RUN_SECONDS = 8 s, and the deployable bundles get exactly
 * one scheduled event each, as the rule would send it.
 */
import { ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { COORDINATOR_QUEUE, participantQueue } from "../../infra/topology.ts";
import { type AwsClients, createAwsClients, destroyAwsClients } from "../../src/adapters/aws-clients.ts";
import { loadConfig } from "../../src/config.ts";
import { provision, type QueueUrls } from "../../src/local/provision.ts";
import { testEnv } from "../helpers/stack.ts";
import {
  type Bundles,
  buildBundles,
  coldStart,
  deliver,
  queueUrlIn,
  type ScheduledEntry,
  type SqsEntry,
  scheduledEvent,
  type UrlEntry,
  urlEvent,
} from "./lambda-harness.ts";

const RUN_SECONDS = 8;
/** What "within about 2 s of its due time" means here. */
const BOUND_MS = 2_000;
const prefix = `tl${crypto.randomUUID().slice(0, 10)}`;
const env = testEnv(prefix, {
  // bank-3 is in no transaction of the deadline test: its queue holds only the in-doubt test's PREPARE.
  // bank-4 only makes that transaction two-party (one party would commit in one phase, never in doubt).
  CONCORD_BANK_SERVERS: "bank-1,bank-2,bank-3,bank-4",
  CONCORD_COMMERCE_PARTICIPANTS: "none",
  CONCORD_SCHEDULED_RUN_SECONDS: String(RUN_SECONDS),
  CONCORD_TIMER_TICK_MS: "1000",
  CONCORD_IN_DOUBT_AFTER_MS: "3000",
  CONCORD_LOG_LEVEL: "SILENT",
});

let bundles: Bundles;
let clients: AwsClients;
let queueUrls: QueueUrls;
let api: UrlEntry;
let sweeper: ScheduledEntry;
let bank3: SqsEntry & ScheduledEntry;

const queueUrl = (logical: string): string => queueUrlIn(queueUrls, logical);

beforeAll(async () => {
  const config = loadConfig(env);
  clients = createAwsClients(config);
  [bundles, queueUrls] = await Promise.all([
    buildBundles(),
    provision(config.topology, clients, { visibilityTimeoutSeconds: 1 }),
  ]);
  api = await coldStart<UrlEntry>(bundles.get("api"), env, "api");
  sweeper = await coldStart<ScheduledEntry>(bundles.get("sweeper"), env, "sweeper");
  // Its answers go through the coordinator queue, where the test reads the inquiries (and no coordinator handles them).
  bank3 = await coldStart(
    bundles.get("participant"),
    { ...env, CONCORD_PARTICIPANT: "bank-3", CONCORD_QUEUED_ANSWERS: "true" },
    "bank-3",
  );
});

afterAll(() => {
  destroyAwsClients(clients);
  bundles.remove();
});

async function call(method: string, path: string, body?: unknown) {
  const response = await api(urlEvent(method, path, body));
  return { status: response.statusCode, body: JSON.parse(response.body ?? "null") };
}

interface Event {
  readonly at: string;
  readonly type: string;
  readonly attempt?: number;
}

describe("one scheduled invocation of the sweeper", () => {
  it("aborts each transaction within about 2 s of its deadline, wherever it falls in the minute", async () => {
    // Deadlines early, in the middle and late in the invocation's run; nobody delivers the PREPAREs.
    const timeouts = [1_500, 4_000, 6_500];
    const ids = timeouts.map((t) => `late-${t}-${prefix}`);
    for (const [i, timeoutMs] of timeouts.entries()) {
      const started = await call("POST", "/v1/transactions?wait=0", {
        id: ids[i],
        protocol: "2pc",
        timeoutMs,
        branches: [
          { participant: "bank-1", action: "deposit", input: { account: "a", amount: 1 } },
          { participant: "bank-2", action: "deposit", input: { account: "b", amount: 1 } },
        ],
      });
      expect(started.status).toBe(202);
    }

    const invoked = Date.now();
    await sweeper(scheduledEvent());
    // The invocation passed through its run, as it does through its minute on AWS.
    expect(Date.now() - invoked).toBeGreaterThanOrEqual((RUN_SECONDS - 1) * 1000);

    for (const [i, timeoutMs] of timeouts.entries()) {
      const { body: view } = await call("GET", `/v1/transactions/${ids[i]}`);
      expect(view).toMatchObject({ status: "aborted", reason: "timeout" });
      const events = view.events as Event[];
      const deadline = Date.parse(view.createdAt) + timeoutMs;
      const decided = Date.parse(events.find((e) => e.type === "decision")?.at ?? "");
      const lateness = decided - deadline;
      expect(
        lateness,
        `${timeoutMs} ms transaction aborted ${lateness} ms after its deadline`,
      ).toBeGreaterThanOrEqual(0);
      expect(
        lateness,
        `${timeoutMs} ms transaction aborted ${lateness} ms after its deadline`,
      ).toBeLessThanOrEqual(BOUND_MS);
      // The re-sends before it kept their backoff (1 s, then 2 s), each within the bound too.
      const first = Date.parse(events.find((e) => e.type === "prepare_resent")?.at ?? "");
      if (timeoutMs > 1_000 + BOUND_MS) {
        expect(first - Date.parse(view.createdAt) - 1_000).toBeLessThanOrEqual(BOUND_MS);
      }
    }
  });
});

describe("one scheduled invocation of a participant's in-doubt function", () => {
  it("asks the coordinator within about 2 s of the barrier's in-doubt time, and once per in-doubt period", async () => {
    await call("PUT", "/v1/bank/bank-3/accounts/ivan", { balance: 0 });
    // bank-4's PREPARE is never delivered: the transaction stays undecided.
    const started = await call("POST", "/v1/transfers?wait=0", [
      { server_id: "bank-3", account_id: "ivan", operation: "deposit", amount: 5 },
      { server_id: "bank-4", account_id: "ivan", operation: "deposit", amount: 5 },
    ]);
    expect(started.status).toBe(202);
    const before = Date.now();
    const prepared = await deliver(clients.sqs, queueUrl(participantQueue("bank-3")), bank3);
    const after = Date.now();
    expect(prepared.received).toBe(1);
    // The vote is lost on its way: the coordinator queue is read below, never handled.
    await bank3(scheduledEvent());

    const inquiries: number[] = [];
    for (;;) {
      const { Messages: messages = [] } = await clients.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl(COORDINATOR_QUEUE),
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 0,
          MessageSystemAttributeNames: ["SentTimestamp"],
        }),
      );
      if (messages.length === 0) break;
      for (const m of messages) {
        if ((JSON.parse(m.Body ?? "{}") as { inquiry?: boolean }).inquiry) {
          inquiries.push(Number(m.Attributes?.SentTimestamp));
        }
      }
    }
    // In doubt 3 s after it prepared, and again 3 s later: twice in the 8 s run, not every tick.
    expect(inquiries.length).toBe(2);
    const [first = 0] = inquiries.sort((a, b) => a - b);
    expect(first).toBeGreaterThanOrEqual(before + 3_000);
    expect(first - (after + 3_000)).toBeLessThanOrEqual(BOUND_MS);
  });
});
