/**
 * What waits in the dead-letter queues, for the `dlq` command and the chaos
 * run's report. Local tooling: it peeks (ReceiveMessage), which no deployed
 * function is granted.
 */
import {
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
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
