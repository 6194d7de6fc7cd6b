/**
 * `GET /metrics` as an operator scrapes it from `npm start` (every role in one
 * process, one registry): a commit, an abort for a participant's own reason, a
 * saga and an operator's abort move the counters, and the gauges read the
 * indexes and dead-letter queues at the moment of the scrape.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TransactionView } from "../../src/core/view.ts";
import { LABEL_NAMES } from "../../src/metrics/catalog.ts";
import { dropping } from "../helpers/buses.ts";
import { eventually, type Stack, startStack } from "../helpers/stack.ts";

/** PREPAREs lost on purpose, by transaction id: that transaction stays undecided. */
const lostPrepares = new Set<string>();
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({
    wrapBus: (bus) =>
      dropping(bus, ({ message }) => message.type === "prepare" && lostPrepares.has(message.txId)),
  });
});
afterAll(() => stack?.stop());

interface Series {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

async function scrape(): Promise<Series[]> {
  const res = await stack.request("GET", "/metrics");
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
  return (await res.text())
    .split("\n")
    .filter((line) => line !== "" && !line.startsWith("#"))
    .map((line) => {
      const m = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (!m) throw new Error(`not a series line: ${line}`);
      const labels: Record<string, string> = {};
      for (const [, k, v] of (m[2] ?? "").matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g))
        labels[k ?? ""] = v ?? "";
      return { name: m[1] ?? "", labels, value: Number(m[3]) };
    });
}

/** The value of the one series of `name` with exactly `labels` (0 when there is none). */
const seriesValue = (all: readonly Series[], name: string, labels: Record<string, string> = {}) =>
  all.find(
    (s) =>
      s.name === name &&
      Object.keys(s.labels).length === Object.keys(labels).length &&
      Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  )?.value ?? 0;

async function submit(body: unknown): Promise<TransactionView> {
  const res = await stack.request("POST", "/v1/transactions?wait=0", body);
  expect([201, 202], await res.clone().text()).toContain(res.status);
  return (await res.json()) as TransactionView;
}

const twoPc = (id: string, amount: number) => ({
  id,
  protocol: "2pc",
  branches: [
    { participant: "bank-1", action: "withdraw", input: { account: `${id}-a`, amount } },
    { participant: "bank-2", action: "deposit", input: { account: `${id}-b`, amount } },
  ],
});

describe("GET /metrics on the local runtime", () => {
  it("counts a commit, a business abort, a saga and an operator's abort, and never names a transaction", async () => {
    const ids = ["m-commit", "m-refused", "m-saga", "m-stuck"];
    for (const id of ids) {
      await stack.seed("bank-1", `${id}-a`, 100);
      await stack.seed("bank-2", `${id}-b`, 0);
    }
    const before = await scrape();

    await submit(twoPc("m-commit", 30));
    await submit(twoPc("m-refused", 500)); // insufficient_funds: a participant's own reason
    await submit({
      id: "m-saga",
      protocol: "saga",
      branches: [
        {
          participant: "bank-1",
          action: "withdraw",
          input: { account: "m-saga-a", amount: 10 },
          compensation: { action: "deposit", input: { account: "m-saga-a", amount: 10 } },
        },
        {
          participant: "bank-2",
          action: "deposit",
          input: { account: "m-saga-b", amount: 10 },
          compensation: { action: "withdraw", input: { account: "m-saga-b", amount: 10 } },
        },
      ],
    });
    for (const id of ["m-commit", "m-refused", "m-saga"]) await stack.settle(id);

    // Its PREPAREs lost, this one stays undecided: in flight until an operator aborts it.
    lostPrepares.add("m-stuck");
    await submit(twoPc("m-stuck", 1));
    const pending = await scrape();
    expect(seriesValue(pending, "concord_transactions_in_flight")).toBe(1);
    await eventually(
      async () => {
        const view = (await (
          await stack.request("GET", "/v1/transactions/m-stuck")
        ).json()) as TransactionView;
        return view.events.some((e) => e.type === "prepare_resent") ? true : undefined;
      },
      10_000,
      "the sweeper to re-send the lost PREPAREs",
    );
    expect((await stack.request("POST", "/v1/transactions/m-stuck/abort")).status).toBe(200);
    await stack.settle("m-stuck");

    const after = await scrape();
    const moved = (name: string, labels: Record<string, string>) =>
      seriesValue(after, name, labels) - seriesValue(before, name, labels);

    expect(moved("concord_transactions_begun_total", { protocol: "2pc" })).toBe(3);
    expect(moved("concord_transactions_begun_total", { protocol: "saga" })).toBe(1);
    const decided = "concord_transactions_decided_total";
    expect(moved(decided, { protocol: "2pc", outcome: "commit", reason: "none" })).toBe(1);
    expect(moved(decided, { protocol: "2pc", outcome: "abort", reason: "other" })).toBe(1);
    expect(moved(decided, { protocol: "2pc", outcome: "abort", reason: "aborted_by_operator" })).toBe(1);
    expect(moved(decided, { protocol: "saga", outcome: "commit", reason: "none" })).toBe(1);
    const completed = "concord_transactions_completed_total";
    expect(moved(completed, { protocol: "2pc", outcome: "committed", reason: "none" })).toBe(1);
    expect(moved(completed, { protocol: "2pc", outcome: "aborted", reason: "other" })).toBe(1);
    expect(moved(completed, { protocol: "2pc", outcome: "aborted", reason: "aborted_by_operator" })).toBe(1);
    expect(moved(completed, { protocol: "saga", outcome: "committed", reason: "none" })).toBe(1);
    expect(moved("concord_time_to_decision_seconds_count", { protocol: "2pc", outcome: "abort" })).toBe(2);
    expect(
      moved("concord_time_to_completion_seconds_count", { protocol: "saga", outcome: "committed" }),
    ).toBe(1);
    // The stuck one's PREPAREs were re-sent by the sweeper until the abort.
    expect(moved("concord_resends_total", { protocol: "2pc", step: "prepare" })).toBeGreaterThan(0);

    expect(seriesValue(after, "concord_transactions_in_flight")).toBe(0);
    for (const queue of stack.config.topology.queues) {
      const dlq = after.find(
        (s) => s.name === "concord_dead_letters" && s.labels.queue === queue.deadLetter.name,
      );
      expect(dlq?.value, queue.deadLetter.name).toBe(0);
    }
    for (const participant of ["bank-1", "bank-2", "bank-3"]) {
      const inDoubt = after.find(
        (s) => s.name === "concord_in_doubt" && s.labels.participant === participant,
      );
      expect(inDoubt?.value, participant).toBe(0);
    }

    const allowed = new Set<string>([...LABEL_NAMES, "le"]);
    for (const s of after) {
      for (const [label, value] of Object.entries(s.labels)) {
        expect(allowed.has(label), `${s.name} ${label}`).toBe(true);
        expect(
          ids.some((id) => value.includes(id)),
          `${s.name} ${label}=${value}`,
        ).toBe(false);
      }
    }
  });

  it("reads dead-letter depth from the queue on each scrape", async () => {
    const { SendMessageCommand } = await import("@aws-sdk/client-sqs");
    const url = stack.runtime.queueUrls?.get("coordinator-dlq");
    if (!url) throw new Error("no coordinator-dlq URL");
    await stack.runtime.clients.sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: "{}" }));
    await eventually(
      async () => {
        const all = await scrape();
        return seriesValue(all, "concord_dead_letters", { queue: "coordinator-dlq" }) === 1
          ? true
          : undefined;
      },
      10_000,
      "the dead letter to show",
    );
  });
});
