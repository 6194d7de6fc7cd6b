/**
 * What waits in the dead-letter queues, for the `dlq` commands and the chaos
 * run's report, and the way back out (redrive). Operator tooling: it peeks and
 * moves (ReceiveMessage, DeleteMessage), which no deployed function is granted.
 */
import {
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import { physicalName, type Topology } from "../../infra/topology.ts";

export interface DeadLetterLook {
  /** The dead-letter queue's physical name. */
  readonly queue: string;
  /** Messages in it, those someone else is looking at right now included. */
  readonly count: number;
  /** Up to `peek` of them, left where they are (visibility timeout 0). */
  readonly messages: readonly { readonly id: string; readonly body: string }[];
}

/** What waits in every dead-letter queue of the topology, for an operator or a test report. */
export async function lookAtDeadLetters(
  sqs: SQSClient,
  topology: Topology,
  peek: number,
): Promise<DeadLetterLook[]> {
  const out: DeadLetterLook[] = [];
  for (const queue of topology.queues) {
    const name = physicalName(topology, queue.deadLetter.name);
    const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: name }));
    const { Attributes = {} } = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl,
        AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
      }),
    );
    const count =
      Number(Attributes.ApproximateNumberOfMessages ?? 0) +
      Number(Attributes.ApproximateNumberOfMessagesNotVisible ?? 0);
    let messages: DeadLetterLook["messages"] = [];
    if (count > 0 && peek > 0) {
      const seen = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl,
          MaxNumberOfMessages: peek,
          VisibilityTimeout: 0,
          WaitTimeSeconds: 0,
        }),
      );
      messages = (seen.Messages ?? []).map((m) => ({ id: m.MessageId ?? "", body: m.Body ?? "" }));
    }
    out.push({ queue: name, count, messages });
  }
  return out;
}

/** A queue of the topology and its dead-letter queue, by physical name. */
export interface QueuePair {
  /** The source queue's logical name (`coordinator`, `participant-bank-1`, ...). */
  readonly name: string;
  readonly source: string;
  readonly deadLetter: string;
}

/**
 * The queue an operator names: a source queue's logical or physical name, its
 * dead-letter queue's, or a participant's name (`bank-1` for `participant-bank-1`).
 */
export function findQueue(topology: Topology, named: string): QueuePair | undefined {
  for (const q of topology.queues) {
    const pair = {
      name: q.name,
      source: physicalName(topology, q.name),
      deadLetter: physicalName(topology, q.deadLetter.name),
    };
    const names = [
      q.name,
      q.deadLetter.name,
      pair.source,
      pair.deadLetter,
      q.name.replace(/^participant-/, ""),
    ];
    if (names.includes(named)) return pair;
  }
  return undefined;
}

/** The logical names an operator may give, for a usage message. */
export const queueNames = (topology: Topology): string[] => topology.queues.map((q) => q.name);

const urlOf = async (sqs: Pick<SQSClient, "send">, name: string): Promise<string> => {
  const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: name }));
  if (!QueueUrl) throw new Error(`queue ${name} has no URL`);
  return QueueUrl;
};

export interface PeekedMessage {
  readonly id: string;
  readonly body: string;
  /** How often it was received before it landed here, and when it was first. */
  readonly receiveCount?: number;
  readonly sentAt?: string;
}

/** Up to `count` messages of one dead-letter queue, left where they are. */
export async function peekDeadLetters(
  sqs: Pick<SQSClient, "send">,
  queue: QueuePair,
  count: number,
): Promise<PeekedMessage[]> {
  const url = await urlOf(sqs, queue.deadLetter);
  const seen = new Map<string, PeekedMessage>();
  // One receive returns at most 10, and may return fewer than are there: ask until nothing new comes.
  for (let round = 0; seen.size < count && round < Math.ceil(count / 10) + 2; round++) {
    const out = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: url,
        MaxNumberOfMessages: Math.min(10, count - seen.size),
        VisibilityTimeout: 0,
        WaitTimeSeconds: 0,
        MessageSystemAttributeNames: ["ApproximateReceiveCount", "SentTimestamp"],
      }),
    );
    const fresh = (out.Messages ?? []).filter((m) => m.MessageId && !seen.has(m.MessageId));
    if (fresh.length === 0) break;
    for (const m of fresh) {
      const sent = Number(m.Attributes?.SentTimestamp);
      const received = Number(m.Attributes?.ApproximateReceiveCount);
      seen.set(m.MessageId as string, {
        id: m.MessageId as string,
        body: m.Body ?? "",
        ...(Number.isFinite(received) ? { receiveCount: received } : {}),
        ...(Number.isFinite(sent) ? { sentAt: new Date(sent).toISOString() } : {}),
      });
    }
  }
  return [...seen.values()].slice(0, count);
}

export interface RedriveResult {
  /** Messages sent back to the source queue and deleted from the dead-letter queue. */
  readonly moved: number;
  /** Messages left in the dead-letter queue, as far as SQS counts them. */
  readonly left: number;
}

/** How long a message being moved stays hidden from another redrive: the send and delete take far less. */
const MOVE_VISIBILITY_SECONDS = 30;

/**
 * Moves the messages of a dead-letter queue back to its source queue, at most
 * `limit` (default: as many as it held when this started, so that a message
 * that fails again is not moved round and round in one run). Each message is
 * sent to the source first and deleted from the dead-letter queue only once
 * that send succeeded: an interruption between the two leaves a copy in both,
 * never in neither. The copy is harmless, as every message is idempotent
 * (design §4.5); the next redrive moves it again.
 */
export async function redriveDeadLetters(
  sqs: Pick<SQSClient, "send">,
  queue: QueuePair,
  options: {
    readonly limit?: number;
    /** How long a message being moved stays hidden from others (default 30 s). */
    readonly visibilitySeconds?: number;
  } = {},
): Promise<RedriveResult> {
  const [dlqUrl, sourceUrl] = await Promise.all([urlOf(sqs, queue.deadLetter), urlOf(sqs, queue.source)]);
  const limit = options.limit ?? (await depth(sqs, dlqUrl));
  let moved = 0;
  while (moved < limit) {
    const out = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: dlqUrl,
        MaxNumberOfMessages: Math.min(10, limit - moved),
        VisibilityTimeout: options.visibilitySeconds ?? MOVE_VISIBILITY_SECONDS,
        WaitTimeSeconds: 0,
        MessageAttributeNames: ["All"],
      }),
    );
    const messages = out.Messages ?? [];
    if (messages.length === 0) break;
    for (const m of messages) {
      await sqs.send(
        new SendMessageCommand({
          QueueUrl: sourceUrl,
          MessageBody: m.Body ?? "",
          ...(m.MessageAttributes ? { MessageAttributes: m.MessageAttributes } : {}),
        }),
      );
      await sqs.send(new DeleteMessageCommand({ QueueUrl: dlqUrl, ReceiptHandle: m.ReceiptHandle }));
      moved++;
    }
  }
  return { moved, left: await depth(sqs, dlqUrl) };
}

async function depth(sqs: Pick<SQSClient, "send">, url: string): Promise<number> {
  const { Attributes = {} } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    }),
  );
  return (
    Number(Attributes.ApproximateNumberOfMessages ?? 0) +
    Number(Attributes.ApproximateNumberOfMessagesNotVisible ?? 0)
  );
}
