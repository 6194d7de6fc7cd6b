/** How many messages wait in each dead-letter queue of the topology, for a metrics scrape. */
import { GetQueueAttributesCommand, GetQueueUrlCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { physicalName, type Topology } from "../../infra/topology.ts";

export interface DeadLetterDepthOptions {
  readonly sqs: SQSClient;
  readonly topology: Topology;
  /** Logical queue name → URL, when the caller provisioned them; looked up by name otherwise. */
  readonly queueUrls?: ReadonlyMap<string, string>;
}

/** `depths()`: dead-letter queue (logical name) → ApproximateNumberOfMessages; one call per queue. */
export function deadLetterDepth(options: DeadLetterDepthOptions) {
  const { sqs, topology } = options;
  const urls = new Map<string, Promise<string>>();
  for (const [name, url] of options.queueUrls ?? []) urls.set(name, Promise.resolve(url));
  const urlOf = (name: string) => {
    let url = urls.get(name);
    if (!url) {
      url = sqs
        .send(new GetQueueUrlCommand({ QueueName: physicalName(topology, name) }))
        .then(({ QueueUrl }) => {
          if (!QueueUrl) throw new Error(`no URL for queue ${name}`);
          return QueueUrl;
        });
      // A failed lookup is tried again on the next scrape.
      url.catch(() => urls.delete(name));
      urls.set(name, url);
    }
    return url;
  };
  return {
    async depths(): Promise<Map<string, number>> {
      const names = topology.queues.map((q) => q.deadLetter.name);
      const counts = await Promise.all(
        names.map(async (name) => {
          const { Attributes } = await sqs.send(
            new GetQueueAttributesCommand({
              QueueUrl: await urlOf(name),
              AttributeNames: ["ApproximateNumberOfMessages"],
            }),
          );
          return [name, Number(Attributes?.ApproximateNumberOfMessages ?? 0)] as const;
        }),
      );
      return new Map(counts);
    },
  };
}
