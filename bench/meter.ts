/**
 * What the bench measures besides time: AWS calls by kind, DynamoDB capacity
 * units, SQS payload chunks and handler invocations. Everything is read from
 * the SDK clients' middleware in this process; the emulators only answer.
 */
import { CallCounter } from "../src/adapters/call-counter.ts";
import { sqsBilledRequests } from "./cost-model.ts";

const READS = new Set(["GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"]);
const WRITES = new Set(["PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"]);

interface Capacity {
  readonly CapacityUnits?: number;
  readonly ReadCapacityUnits?: number;
  readonly WriteCapacityUnits?: number;
}

type Next = (args: { input: Record<string, unknown> }) => Promise<{ output?: unknown }>;
interface Stack {
  add(
    middleware: (next: Next, context: { commandName?: string }) => Next,
    options: { step: "initialize"; name: string },
  ): void;
}

export interface MeterSnapshot {
  /** Calls by `service:Operation`. */
  readonly calls: Record<string, number>;
  readonly readUnits: number;
  readonly writeUnits: number;
  readonly sqsBilledRequests: number;
  /** ReceiveMessage calls that returned messages: each is one handler invocation, as a Lambda batch is. */
  readonly handlerBatches: number;
  /** Capacity units (read and write together) by `dynamodb:Operation`. */
  readonly unitsByCall: Record<string, number>;
}

export class Meter {
  readonly counter = new CallCounter((key, input, output) => this.onSqs(key, input, output));
  private readUnits = 0;
  private writeUnits = 0;
  private sqsRequests = 0;
  private batches = 0;
  private readonly byCall = new Map<string, number>();

  /**
   * Asks DynamoDB for ReturnConsumedCapacity TOTAL on every read and write the
   * client sends and adds up what comes back. DynamoDB Local reports
   * TransactWriteItems at standard units (1 per KB per item) but AWS bills
   * transactional writes double, so those are doubled here; it reports
   * TransactGetItems already doubled, as AWS bills them. A write whose
   * condition fails returns no capacity, but AWS bills it one write unit (an
   * item under 1 KB), so that is added; a cancelled TransactWriteItems is not
   * counted (AWS does not say what it bills for one).
   */
  meterCapacity(client: { middlewareStack: unknown }): void {
    (client.middlewareStack as Stack).add(
      (next, context) => async (args) => {
        const operation = context.commandName?.replace(/Command$/, "") ?? "";
        const read = READS.has(operation);
        if (!read && !WRITES.has(operation)) return next(args);
        try {
          const result = await next({ ...args, input: { ...args.input, ReturnConsumedCapacity: "TOTAL" } });
          const consumed = (result.output as { ConsumedCapacity?: Capacity | Capacity[] } | undefined)
            ?.ConsumedCapacity;
          const factor = operation === "TransactWriteItems" ? 2 : 1;
          for (const c of [consumed ?? []].flat()) {
            const total = (c.CapacityUnits ?? 0) * factor;
            this.addByCall(operation, total);
            if (c.ReadCapacityUnits !== undefined || c.WriteCapacityUnits !== undefined) {
              this.readUnits += (c.ReadCapacityUnits ?? 0) * factor;
              this.writeUnits += (c.WriteCapacityUnits ?? 0) * factor;
            } else if (read) this.readUnits += total;
            else this.writeUnits += total;
          }
          return result;
        } catch (err) {
          if ((err as Error).name === "ConditionalCheckFailedException") {
            this.writeUnits += 1;
            this.addByCall(operation, 1);
          }
          throw err;
        }
      },
      { step: "initialize", name: "benchConsumedCapacity" },
    );
  }

  snapshot(): MeterSnapshot {
    return {
      calls: this.counter.snapshot(),
      readUnits: this.readUnits,
      writeUnits: this.writeUnits,
      sqsBilledRequests: this.sqsRequests,
      handlerBatches: this.batches,
      unitsByCall: Object.fromEntries([...this.byCall].sort(([a], [b]) => a.localeCompare(b))),
    };
  }

  reset(): void {
    this.counter.reset();
    this.readUnits = 0;
    this.writeUnits = 0;
    this.sqsRequests = 0;
    this.batches = 0;
    this.byCall.clear();
  }

  private addByCall(operation: string, units: number): void {
    const key = `dynamodb:${operation}`;
    this.byCall.set(key, (this.byCall.get(key) ?? 0) + units);
  }

  private onSqs(key: string, input: unknown, output: unknown): void {
    if (!key.startsWith("sqs:")) return;
    let bytes = 0;
    if (key === "sqs:SendMessage") bytes = messageBytes(input as SqsMessage);
    if (key === "sqs:SendMessageBatch") {
      for (const entry of (input as { Entries?: SqsMessage[] }).Entries ?? []) bytes += messageBytes(entry);
    }
    if (key === "sqs:ReceiveMessage") {
      const messages = (output as { Messages?: { Body?: string }[] } | undefined)?.Messages ?? [];
      if (messages.length > 0) this.batches += 1;
      for (const m of messages) bytes += Buffer.byteLength(m.Body ?? "");
    }
    this.sqsRequests += sqsBilledRequests(bytes);
  }
}

interface SqsMessage {
  readonly MessageBody?: string;
  readonly MessageAttributes?: unknown;
}

/** A message's billed size: its body and its attributes (names, types and values). */
function messageBytes(m: SqsMessage): number {
  return (
    Buffer.byteLength(m.MessageBody ?? "") +
    (m.MessageAttributes ? Buffer.byteLength(JSON.stringify(m.MessageAttributes)) : 0)
  );
}
