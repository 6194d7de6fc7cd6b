import {
  GetQueueUrlCommand,
  SendMessageBatchCommand,
  type SendMessageBatchResultEntry,
  SendMessageCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import { COORDINATOR_QUEUE, physicalName, queueFor, type Topology } from "../../infra/topology.ts";
import type { MessageBus, SendOptions } from "../ports/message-bus.ts";
import { currentTraceparent, TRACEPARENT_ATTRIBUTE } from "../trace-context.ts";

export interface SqsBusOptions {
  readonly sqs: SQSClient;
  readonly topology: Pick<Topology, "prefix" | "queues">;
  /** Queue URLs known up front (the stack's environment, or provisioning); others are looked up once. */
  readonly queueUrls?: ReadonlyMap<string, string>;
  /** Waits before sending again the entries of a batch that SQS refused for a reason of its own. */
  readonly retryPause?: (attempt: number) => Promise<void>;
}

/** SQS's limits for one SendMessageBatch: 10 entries, 256 KiB of payload in all. */
export const BATCH_MAX_ENTRIES = 10;
export const BATCH_MAX_BYTES = 256 * 1024;
/** Sends of entries SQS failed on its side (SenderFault false), the first included. */
export const BATCH_ENTRY_ATTEMPTS = 4;

/** An entry of a batch send that SQS refused: its own message's send fails with this. */
export class BatchEntryError extends Error {
  override name = "BatchEntryError";
  constructor(
    readonly code: string,
    readonly senderFault: boolean,
    message: string,
  ) {
    super(`SQS refused the message (${code}${senderFault ? ", sender fault" : ""}): ${message}`);
  }
}

interface Pending {
  readonly body: string;
  readonly delaySeconds?: number;
  /** The trace of the work that sent it, as the message attribute `traceparent`. */
  readonly traceparent?: string;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

const defaultRetryPause = (attempt: number): Promise<void> =>
  new Promise((r) => setTimeout(r, 20 * 2 ** attempt * (0.5 + Math.random())));

/**
 * Sends made in the same turn of the event loop to the same queue (a decision
 * to several participants, the PREPAREs of a request, a batch's rollbacks) leave
 * as one SendMessageBatch, up to SQS's limits; a lone message as SendMessage.
 * Each caller's promise still stands for its own message: it resolves once SQS
 * took that message, and rejects when SQS refused it, after entries refused on
 * SQS's side were sent again. No message is dropped without its caller knowing.
 */
export function createSqsBus(options: SqsBusOptions): MessageBus {
  const { sqs, topology } = options;
  const retryPause = options.retryPause ?? defaultRetryPause;
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

  const gathering = new Map<string, Pending[]>();

  function send(queue: string, body: unknown, options: SendOptions = {}): Promise<void> {
    return new Promise((resolve, reject) => {
      let list = gathering.get(queue);
      if (!list) {
        const gathered: Pending[] = [];
        list = gathered;
        gathering.set(queue, gathered);
        // After the sends of this turn are in: they go together.
        setImmediate(() => {
          gathering.delete(queue);
          void flush(queue, gathered);
        });
      }
      // Read now, in the sender's context: the flush runs later, outside it.
      const traceparent = currentTraceparent();
      list.push({
        body: JSON.stringify(body),
        ...(options.delaySeconds ? { delaySeconds: options.delaySeconds } : {}),
        ...(traceparent !== undefined ? { traceparent } : {}),
        resolve,
        reject,
      });
    });
  }

  async function flush(queue: string, entries: readonly Pending[]): Promise<void> {
    let url: string;
    try {
      url = await urlOf(queue);
    } catch (err) {
      for (const e of entries) e.reject(err);
      return;
    }
    await Promise.all(chunks(entries).map((chunk) => sendChunk(url, chunk)));
  }

  async function sendOne(url: string, entry: Pending): Promise<void> {
    try {
      await sqs.send(
        new SendMessageCommand({
          QueueUrl: url,
          MessageBody: entry.body,
          ...(entry.delaySeconds ? { DelaySeconds: entry.delaySeconds } : {}),
          ...attributes(entry),
        }),
      );
      entry.resolve();
    } catch (err) {
      entry.reject(err);
    }
  }

  async function sendChunk(url: string, chunk: readonly Pending[]): Promise<void> {
    const [only] = chunk;
    if (chunk.length === 1 && only) return sendOne(url, only);
    let left = chunk;
    for (let attempt = 0; left.length > 0; attempt++) {
      let out: {
        Successful?: SendMessageBatchResultEntry[];
        Failed?: { Id?: string; Code?: string; SenderFault?: boolean; Message?: string }[];
      };
      try {
        out = await sqs.send(
          new SendMessageBatchCommand({
            QueueUrl: url,
            Entries: left.map((e, i) => ({
              Id: String(i),
              MessageBody: e.body,
              ...(e.delaySeconds ? { DelaySeconds: e.delaySeconds } : {}),
              ...attributes(e),
            })),
          }),
        );
      } catch (err) {
        // The call itself failed after the SDK's retries: no entry is known to be sent.
        for (const e of left) e.reject(err);
        return;
      }
      const sent = new Set((out.Successful ?? []).map((s) => s.Id));
      const failed = new Map((out.Failed ?? []).map((f) => [f.Id, f]));
      const again: Pending[] = [];
      for (const [i, e] of left.entries()) {
        const id = String(i);
        if (sent.has(id)) {
          e.resolve();
          continue;
        }
        const f = failed.get(id);
        if (f && !f.SenderFault && attempt + 1 < BATCH_ENTRY_ATTEMPTS) {
          again.push(e);
          continue;
        }
        e.reject(
          new BatchEntryError(
            f?.Code ?? "Missing",
            f?.SenderFault ?? false,
            f?.Message ?? "the batch's answer named neither success nor failure for this entry",
          ),
        );
      }
      left = again;
      if (left.length > 0) await retryPause(attempt);
    }
  }

  return {
    toCoordinator: (message) => send(COORDINATOR_QUEUE, message),
    toParticipant: (participant, message, options) => send(queueFor(topology, participant), message, options),
  };
}

const attributes = (entry: Pending) =>
  entry.traceparent === undefined
    ? {}
    : {
        MessageAttributes: {
          [TRACEPARENT_ATTRIBUTE]: { DataType: "String", StringValue: entry.traceparent },
        },
      };

/** Splits entries into batches within SQS's limits, in order; an entry too large for any batch goes alone. */
function chunks(entries: readonly Pending[]): Pending[][] {
  const out: Pending[][] = [];
  let current: Pending[] = [];
  let bytes = 0;
  for (const e of entries) {
    const size = Buffer.byteLength(e.body);
    if (current.length > 0 && (current.length === BATCH_MAX_ENTRIES || bytes + size > BATCH_MAX_BYTES)) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(e);
    bytes += size;
  }
  if (current.length > 0) out.push(current);
  return out;
}
