import { GetQueueUrlCommand, SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { COORDINATOR_QUEUE, physicalName, queueFor, type Topology } from "../../infra/topology.ts";
import type { MessageBus, SendOptions } from "../ports/message-bus.ts";

export interface SqsBusOptions {
  readonly sqs: SQSClient;
  readonly topology: Pick<Topology, "prefix" | "queues">;
  /** Queue URLs known up front (the stack's environment, or provisioning); others are looked up once. */
  readonly queueUrls?: ReadonlyMap<string, string>;
}

export function createSqsBus(options: SqsBusOptions): MessageBus {
  const { sqs, topology } = options;
  const urls = new Map<string, Promise<string>>();
  for (const [name, url] of options.queueUrls ?? []) urls.set(name, Promise.resolve(url));

  function urlOf(queue: string): Promise<string> {
    let url = urls.get(queue);
    if (!url) {
      url = sqs.send(new GetQueueUrlCommand({ QueueName: physicalName(topology, queue) })).then((out) => {
        if (!out.QueueUrl) throw new Error(`queue ${queue} has no URL`);
        return out.QueueUrl;
      });
      // A failed lookup must not be cached: the next send asks again.
      url.catch(() => urls.delete(queue));
      urls.set(queue, url);
    }
    return url;
  }

  async function send(queue: string, body: unknown, options: SendOptions = {}): Promise<void> {
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: await urlOf(queue),
        MessageBody: JSON.stringify(body),
        ...(options.delaySeconds ? { DelaySeconds: options.delaySeconds } : {}),
      }),
    );
  }

  return {
    toCoordinator: (message) => send(COORDINATOR_QUEUE, message),
    toParticipant: (participant, message, options) => send(queueFor(topology, participant), message, options),
  };
}
