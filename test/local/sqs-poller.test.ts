import {
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
} from "@aws-sdk/client-sqs";
import type { SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { afterAll, describe, expect, inject, it, vi } from "vitest";
import { buildTopology, COORDINATOR_QUEUE } from "../../infra/topology.ts";
import { provision } from "../../src/local/provision.ts";
import { type SqsBatchHandler, type SqsPoller, startSqsPoller } from "../../src/local/sqs-poller.ts";
import { eventually, localClients, REGION, uniquePrefix } from "./fixtures.ts";

const clients = localClients();
const { sqs } = clients;
const pollers: SqsPoller[] = [];
afterAll(async () => {
  await Promise.all(pollers.map((p) => p.stop()));
  clients.dynamodb.destroy();
  sqs.destroy();
});

const quietLog = () => ({ info: vi.fn(), warn: vi.fn(), error: vi.fn() });

/** A fresh queue with a 1 s visibility timeout and a dead-letter queue after 2 receives. */
async function freshQueue(label: string): Promise<{ url: string; dlqUrl: string }> {
  const topology = buildTopology({
    prefix: uniquePrefix(label),
    bankServers: [],
    dueShards: 1,
    sweepIntervalSeconds: 60,
  });
  const urls = await provision(topology, clients, { visibilityTimeoutSeconds: 1, maxReceiveCount: 2 });
  return { url: urls.get(COORDINATOR_QUEUE) ?? "", dlqUrl: urls.get(`${COORDINATOR_QUEUE}-dlq`) ?? "" };
}

function poll(
  queueUrl: string,
  handler: SqsBatchHandler,
  extra: Partial<Parameters<typeof startSqsPoller>[0]> = {},
): SqsPoller {
  const poller = startSqsPoller({
    sqs,
    queueUrl,
    handler,
    batchSize: 10,
    waitTimeSeconds: 1,
    concurrency: 2,
    log: quietLog(),
    ...extra,
  });
  pollers.push(poller);
  return poller;
}

async function messagesLeft(url: string): Promise<number> {
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    }),
  );
  return (
    Number(Attributes?.ApproximateNumberOfMessages) +
    Number(Attributes?.ApproximateNumberOfMessagesNotVisible)
  );
}

async function send(url: string, ...bodies: string[]): Promise<void> {
  await sqs.send(
    new SendMessageBatchCommand({
      QueueUrl: url,
      Entries: bodies.map((body, i) => ({ Id: String(i), MessageBody: body })),
    }),
  );
}

describe.concurrent("sqs poller", { timeout: 15_000 }, () => {
  it("delivers a Lambda-shaped SQSEvent", async () => {
    const { url } = await freshQueue("shape");
    const seen: SQSRecord[] = [];
    poll(url, async (event) => {
      seen.push(...event.Records);
    });
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: url,
        MessageBody: '{"hello":"world"}',
        MessageAttributes: {
          kind: { DataType: "String", StringValue: "prepare" },
          blob: { DataType: "Binary", BinaryValue: Buffer.from("hi") },
        },
      }),
    );
    const [record] = await eventually(() => (seen.length > 0 ? seen : undefined));
    expect(record).toMatchObject({
      body: '{"hello":"world"}',
      eventSource: "aws:sqs",
      awsRegion: REGION,
      attributes: { ApproximateReceiveCount: "1", SenderId: expect.any(String) },
      messageAttributes: {
        kind: { dataType: "String", stringValue: "prepare" },
        blob: { dataType: "Binary", binaryValue: Buffer.from("hi").toString("base64") },
      },
    });
    expect(record?.eventSourceARN).toMatch(/^arn:aws:sqs:us-east-1:\d+:t[0-9a-f]+-shape-coordinator$/);
    expect(Number(record?.attributes.SentTimestamp)).toBeGreaterThan(Date.now() - 60_000);
    expect(record?.md5OfBody).toMatch(/^[0-9a-f]{32}$/);
  });

  it("deletes successes and redelivers only the messages named in batchItemFailures", async () => {
    const { url } = await freshQueue("partial");
    const deliveries: { body: string; receiveCount: string }[] = [];
    poll(url, async (event): Promise<SQSBatchResponse> => {
      const failures = [];
      for (const r of event.Records) {
        deliveries.push({ body: r.body, receiveCount: r.attributes.ApproximateReceiveCount });
        // "bad" fails on its first delivery only.
        if (r.body === "bad" && r.attributes.ApproximateReceiveCount === "1") {
          failures.push({ itemIdentifier: r.messageId });
        }
      }
      return { batchItemFailures: failures };
    });
    await send(url, "good-1", "bad", "good-2");
    await eventually(() =>
      deliveries.some((d) => d.body === "bad" && d.receiveCount === "2") ? true : undefined,
    );
    await eventually(
      async () => ((await messagesLeft(url)) === 0 ? true : undefined),
      3_000,
      "an empty queue",
    );
    expect(deliveries.filter((d) => d.body.startsWith("good"))).toHaveLength(2);
    expect(deliveries.filter((d) => d.body === "bad").map((d) => d.receiveCount)).toEqual(["1", "2"]);
  });

  it("redelivers the whole batch when the handler throws, and reports the error", async () => {
    const { url } = await freshQueue("throw");
    const batches: string[][] = [];
    const onError = vi.fn();
    poll(
      url,
      async (event: SQSEvent) => {
        batches.push(event.Records.map((r) => `${r.body}#${r.attributes.ApproximateReceiveCount}`));
        if (batches.length === 1) throw new Error("boom");
      },
      { onError },
    );
    const startedAt = Date.now();
    await send(url, "a", "b");
    await eventually(() => batches[0]);
    const failedBatch = (batches[0] ?? []).map((d) => d.replace("#1", "#2"));
    // Every message of the failed batch comes back, with its receive count raised.
    await eventually(() => (failedBatch.every((d) => batches.flat().includes(d)) ? true : undefined));
    await eventually(
      async () => ((await messagesLeft(url)) === 0 ? true : undefined),
      3_000,
      "an empty queue",
    );
    // ... after the 1 s visibility timeout, as with Lambda.
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(900);
    expect(failedBatch.length).toBeGreaterThan(0);
    expect(onError).toHaveBeenCalledTimes(1);
    expect(onError.mock.calls[0]?.[0]).toMatchObject({ message: "boom" });
  });

  it("lets the queue move a message that keeps failing to its dead-letter queue", async () => {
    const { url, dlqUrl } = await freshQueue("dlq");
    const receiveCounts: string[] = [];
    poll(url, async (event) => {
      for (const r of event.Records) receiveCounts.push(r.attributes.ApproximateReceiveCount);
      return { batchItemFailures: event.Records.map((r) => ({ itemIdentifier: r.messageId })) };
    });
    await send(url, "poison");
    const dead = await eventually(
      async () => {
        const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: dlqUrl, WaitTimeSeconds: 1 }));
        return out.Messages?.[0];
      },
      8_000,
      "the message in the dead-letter queue",
    );
    expect(dead.Body).toBe("poison");
    expect(receiveCounts).toEqual(["1", "2"]); // maxReceiveCount 2, then the queue gives up
  });

  it("stops promptly while long polling, and waits for a running batch", async () => {
    const { url } = await freshQueue("stop");
    const idle = startSqsPoller({
      sqs,
      queueUrl: url,
      handler: async () => {},
      batchSize: 10,
      log: quietLog(),
    });
    await new Promise((resolve) => setTimeout(resolve, 200)); // now inside a 20 s long poll
    let t = Date.now();
    await idle.stop();
    expect(Date.now() - t).toBeLessThan(500);

    let finished = false;
    let started = false;
    const busy = poll(url, async () => {
      started = true;
      await new Promise((resolve) => setTimeout(resolve, 400));
      finished = true;
    });
    await send(url, "slow");
    await eventually(() => (started ? true : undefined));
    t = Date.now();
    await busy.stop();
    expect(finished).toBe(true);
    expect(Date.now() - t).toBeLessThan(1_000);
  });

  it("backs off on receive errors instead of spinning", async () => {
    const log = quietLog();
    const poller = startSqsPoller({
      sqs,
      queueUrl: `${inject("sqsEndpoint")}/000000000000/does-not-exist`,
      handler: async () => {},
      batchSize: 1,
      concurrency: 1,
      log,
    });
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    await poller.stop();
    // 100, 200, 400 ms ... : a handful of attempts in a second, not hundreds.
    expect(log.warn.mock.calls.length).toBeGreaterThanOrEqual(2);
    expect(log.warn.mock.calls.length).toBeLessThanOrEqual(6);
  });
});
