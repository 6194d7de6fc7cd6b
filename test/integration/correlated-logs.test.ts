/**
 * Correlated logs: every line about a transaction names it (`txId`) and its
 * trace, as keys of the line rather than fields some lines remember to add, in
 * every role that touches it — a participant, the dispatcher of an HTTP
 * participant, the sweeper — and the sweeper's re-sends continue the trace the
 * transaction was begun in, up to the HTTP participant they reach.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TransactionView } from "../../src/core/view.ts";
import { type LogEntry, RecordingLogger } from "../../testkit/logging.ts";
import { type HttpService, startHttpService } from "../helpers/http-service.ts";
import { eventually, type Stack, startStack } from "../helpers/stack.ts";

const TRACE_ID = "0af7651916cd43dd8448eb211c80319c";
const logs: LogEntry[] = [];
let stack: Stack;
let stubborn: HttpService;

beforeAll(async () => {
  stubborn = await startHttpService();
  stack = await startStack({
    bankServers: ["bank-1"],
    log: new RecordingLogger((entry) => logs.push(entry)),
    env: {
      CONCORD_COMMERCE_PARTICIPANTS: "none",
      CONCORD_HTTP_PARTICIPANT_ALLOW_PRIVATE: "true",
      CONCORD_HTTP_PARTICIPANT_HOSTS: "127.0.0.1",
      CONCORD_DECISION_RETRY_MS: "200",
      CONCORD_BACKOFF_CAP_MS: "400",
      CONCORD_STALLED_AFTER_ATTEMPTS: "2",
    },
  });
  const registered = await stack.request("POST", "/v1/participants", {
    name: "stubborn",
    baseUrl: stubborn.url,
    protocols: ["2pc"],
  });
  expect(registered.status).toBe(201);
});

afterAll(async () => {
  await stack?.stop();
  await stubborn?.stop();
});

describe("a transaction's log lines, in every role", () => {
  // One transaction, aborted, whose ROLLBACK the HTTP service fails at first: both tests read it.
  let id: string;
  beforeAll(async () => {
    await stack.seed("bank-1", "penny", 10);
    // The service fails its first ROLLBACKs: the dispatcher logs each failure, and the
    // sweeper sends the decision again until it is acknowledged, then warns it is stalled.
    stubborn.answer("rollback", (n) => (n <= 4 ? { status: 500 } : { status: 200 }));
    const res = await stack.request(
      "POST",
      "/v1/transactions?wait=0",
      {
        protocol: "2pc",
        branches: [
          // Insufficient funds: bank-1 votes no, and the transaction aborts.
          { participant: "bank-1", action: "withdraw", input: { account: "penny", amount: 100 } },
          { participant: "stubborn", action: "record", input: {} },
        ],
      },
      { traceparent: `00-${TRACE_ID}-b7ad6b7169203331-01` },
    );
    ({ id } = (await res.json()) as TransactionView);
    const done = await stack.settle(id);
    expect(done).toMatchObject({ status: "aborted", phase: "aborted" });
  });

  it("all carry its id and its trace as keys: the participant's, the dispatcher's and the sweeper's", () => {
    const about = (e: LogEntry) =>
      (e.fields as { txId?: unknown } | undefined)?.txId === id || e.keys.txId === id;
    const lines = logs.filter(about);
    const byMessage = (pattern: RegExp) => lines.filter((e) => pattern.test(e.message));
    // A line of each role that touched it.
    const voted = byMessage(/^voted no$/).filter((e) => e.keys.participant === "bank-1");
    const dispatched = byMessage(/^call failed/);
    const swept = byMessage(/^decision not yet acknowledged$/);
    expect(voted).toHaveLength(1);
    expect(dispatched.length).toBeGreaterThan(0);
    expect(swept.length).toBeGreaterThan(0);
    for (const e of dispatched) expect(e.keys.participant, e.message).toBe("stubborn");
    // Every line about it, of whichever role, names it and its trace.
    for (const e of lines) {
      expect(e.keys.txId, e.message).toBe(id);
      expect(e.keys.traceId, e.message).toBe(TRACE_ID);
    }
  });

  it("continues the transaction's trace in the sweeper's re-sends, up to the HTTP participant", async () => {
    const rollbacks = stubborn.callsTo("rollback").filter((c) => c.body.txId === id);
    // The first from the decision, the others re-sent by the sweeper (or requeued by the dispatcher).
    expect(rollbacks.length).toBeGreaterThanOrEqual(3);
    for (const c of rollbacks) expect(c.traceparent).toMatch(new RegExp(`^00-${TRACE_ID}-[0-9a-f]{16}-01$`));
    const record = await eventually(async () =>
      (await stack.scan("transactions")).find((item) => item.id === id),
    );
    // The record keeps the trace it was begun in, the API's span of the client's trace.
    expect(record.traceparent).toMatch(new RegExp(`^00-${TRACE_ID}-[0-9a-f]{16}-01$`));
  });
});
