/**
 * The SQS bus gathers the sends of one turn to one queue into SendMessageBatch
 * calls, and keeps each caller's promise true to its own message: resolved once
 * SQS took it, rejected when SQS refused it, never dropped silently.
 */
import {
  SendMessageBatchCommand,
  type SendMessageBatchCommandInput,
  SendMessageCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import { describe, expect, it } from "vitest";
import { BatchEntryError, createSqsBus } from "../../src/adapters/sqs-bus.ts";
import type { ParticipantMessage } from "../../src/core/messages.ts";

type Answer = (input: SendMessageBatchCommandInput) => {
  Successful: { Id: string }[];
  Failed: { Id: string; Code: string; SenderFault: boolean; Message: string }[];
};

function fakeSqs(
  answer: Answer = (input) => ({
    Successful: (input.Entries ?? []).map((e) => ({ Id: e.Id ?? "" })),
    Failed: [],
  }),
) {
  const calls: { op: string; bodies: string[] }[] = [];
  const sqs = {
    send: async (command: unknown) => {
      if (command instanceof SendMessageBatchCommand) {
        calls.push({ op: "batch", bodies: (command.input.Entries ?? []).map((e) => e.MessageBody ?? "") });
        return answer(command.input);
      }
      if (command instanceof SendMessageCommand) {
        calls.push({ op: "single", bodies: [command.input.MessageBody ?? ""] });
        return {};
      }
      throw new Error("unexpected command");
    },
  } as unknown as SQSClient;
  return { sqs, calls };
}

const topology = {
  prefix: "t",
  queues: [{ name: "participant-bank-1" }, { name: "participant-bank-2" }, { name: "coordinator" }],
} as never;
const urls = new Map([
  ["participant-bank-1", "url-bank-1"],
  ["participant-bank-2", "url-bank-2"],
  ["dispatcher", "url-dispatcher"],
  ["coordinator", "url-coordinator"],
]);
const commit = (txId: string, participant = "bank-1"): ParticipantMessage => ({
  type: "commit",
  txId,
  participant,
  startedAt: 0,
});
const noPause = async () => {};

describe("the SQS bus's batched sends", () => {
  it("sends what one turn addresses to one queue as batches of at most 10", async () => {
    const { sqs, calls } = fakeSqs();
    const bus = createSqsBus({ sqs, topology, queueUrls: urls, retryPause: noPause });
    await Promise.all(Array.from({ length: 12 }, (_, i) => bus.toParticipant("bank-1", commit(`t${i}`))));
    expect(calls.map((c) => [c.op, c.bodies.length])).toEqual([
      ["batch", 10],
      ["batch", 2],
    ]);
  });

  it("sends a lone message as SendMessage", async () => {
    const { sqs, calls } = fakeSqs();
    const bus = createSqsBus({ sqs, topology, queueUrls: urls, retryPause: noPause });
    await bus.toParticipant("bank-1", commit("t"));
    expect(calls.map((c) => c.op)).toEqual(["single"]);
  });

  it("sends again the entries SQS failed on its side, and resolves each once taken", async () => {
    let first = true;
    const { sqs, calls } = fakeSqs((input) => {
      const entries = input.Entries ?? [];
      if (first) {
        first = false;
        return {
          Successful: entries.slice(1).map((e) => ({ Id: e.Id ?? "" })),
          Failed: [
            { Id: entries[0]?.Id ?? "", Code: "InternalError", SenderFault: false, Message: "try again" },
          ],
        };
      }
      return { Successful: entries.map((e) => ({ Id: e.Id ?? "" })), Failed: [] };
    });
    const bus = createSqsBus({ sqs, topology, queueUrls: urls, retryPause: noPause });
    await Promise.all(["a", "b", "c"].map((id) => bus.toParticipant("bank-1", commit(id))));
    expect(calls).toHaveLength(2);
    expect(calls[1]?.bodies.map((b) => JSON.parse(b).txId)).toEqual(["a"]);
  });

  it("rejects the send of an entry SQS refused as the sender's fault, and only that one", async () => {
    const { sqs } = fakeSqs((input) => {
      const entries = input.Entries ?? [];
      return {
        Successful: entries.filter((e) => !e.MessageBody?.includes('"bad"')).map((e) => ({ Id: e.Id ?? "" })),
        Failed: entries
          .filter((e) => e.MessageBody?.includes('"bad"'))
          .map((e) => ({ Id: e.Id ?? "", Code: "InvalidMessageContents", SenderFault: true, Message: "no" })),
      };
    });
    const bus = createSqsBus({ sqs, topology, queueUrls: urls, retryPause: noPause });
    const results = await Promise.allSettled(
      ["ok1", "bad", "ok2"].map((id) => bus.toParticipant("bank-1", commit(id))),
    );
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect((results[1] as PromiseRejectedResult).reason).toBeInstanceOf(BatchEntryError);
  });

  it("rejects an entry SQS keeps failing on its side once its attempts are spent", async () => {
    const { sqs, calls } = fakeSqs((input) => ({
      Successful: [],
      Failed: (input.Entries ?? []).map((e) => ({
        Id: e.Id ?? "",
        Code: "InternalError",
        SenderFault: false,
        Message: "down",
      })),
    }));
    const bus = createSqsBus({ sqs, topology, queueUrls: urls, retryPause: noPause });
    const results = await Promise.allSettled(["a", "b"].map((id) => bus.toParticipant("bank-1", commit(id))));
    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected"]);
    expect(calls).toHaveLength(4);
  });

  it("keeps queues apart: one batch per queue", async () => {
    const { sqs, calls } = fakeSqs();
    const bus = createSqsBus({ sqs, topology, queueUrls: urls, retryPause: noPause });
    await Promise.all([
      bus.toParticipant("bank-1", commit("a")),
      bus.toParticipant("bank-2", commit("a", "bank-2")),
      bus.toParticipant("bank-1", commit("b")),
    ]);
    expect(calls.map((c) => [c.op, c.bodies.length]).sort()).toEqual([
      ["batch", 2],
      ["single", 1],
    ]);
  });
});
