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

interface Consumed extends Capacity {
  readonly TableName?: string;
  readonly Table?: Capacity;
  readonly GlobalSecondaryIndexes?: Record<string, Capacity>;
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
   * Whether `meterCapacity`'s middleware asks for and adds up capacity; off, calls
   * pass through untouched. The bench keeps it off but for each level's capacity pass: DynamoDB Local
   * pays for reporting capacity (about 8 % of its throughput).
   */
  capacityOn = true;

  /**
   * Asks DynamoDB for ReturnConsumedCapacity on every read and write the client
   * sends and adds up what comes back. DynamoDB Local already reports a
   * TransactWriteItems at the transactional rate (one small Put alone: 2 units)
   * but adds its items' sizes up before rounding, where AWS bills each item
   * written 2 units per KB, rounded up item by item; so a transaction's table
   * units are the larger of what DynamoDB Local reports and that per-item floor
   * (`transactWriteFloor`), and its index units are taken as reported. It
   * reports TransactGetItems already doubled, as AWS bills them. A write whose
   * condition fails returns no capacity, but AWS bills it one write unit (an
   * item under 1 KB), so that is added; a cancelled TransactWriteItems is not
   * counted (AWS does not say what it bills for one).
   */
  meterCapacity(client: { middlewareStack: unknown }): void {
    (client.middlewareStack as Stack).add(
      (next, context) => async (args) => {
        const operation = context.commandName?.replace(/Command$/, "") ?? "";
        const read = READS.has(operation);
        if (!this.capacityOn || (!read && !WRITES.has(operation))) return next(args);
        try {
          const transactWrite = operation === "TransactWriteItems";
          const result = await next({
            ...args,
            input: { ...args.input, ReturnConsumedCapacity: transactWrite ? "INDEXES" : "TOTAL" },
          });
          const consumed = (result.output as { ConsumedCapacity?: Consumed | Consumed[] } | undefined)
            ?.ConsumedCapacity;
          const floors = transactWrite ? transactWriteFloor(args.input) : new Map<string, number>();
          for (const c of [consumed ?? []].flat()) {
            if (transactWrite) {
              const indexes = Object.values(c.GlobalSecondaryIndexes ?? {}).reduce(
                (sum, i) => sum + (i.CapacityUnits ?? 0),
                0,
              );
              const table = Math.max(c.Table?.CapacityUnits ?? (c.CapacityUnits ?? 0) - indexes, 0);
              const units = Math.max(table, floors.get(c.TableName ?? "") ?? 0) + indexes;
              this.addByCall(operation, units);
              this.writeUnits += units;
              continue;
            }
            const total = c.CapacityUnits ?? 0;
            this.addByCall(operation, total);
            if (c.ReadCapacityUnits !== undefined || c.WriteCapacityUnits !== undefined) {
              this.readUnits += c.ReadCapacityUnits ?? 0;
              this.writeUnits += c.WriteCapacityUnits ?? 0;
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

type TransactItem = Record<string, { TableName?: string; Item?: Record<string, unknown> } | undefined>;

/**
 * What AWS bills a TransactWriteItems at least, per table: 2 write units per KB
 * of each item written, rounded up item by item. A Put's size is its item's; an
 * Update's or a Delete's is not in the request, so it counts as under 1 KB (the
 * bench's accounts and barriers are a few hundred bytes). A ConditionCheck
 * writes nothing and is left to what DynamoDB reports.
 */
export function transactWriteFloor(input: Record<string, unknown>): Map<string, number> {
  const floors = new Map<string, number>();
  for (const entry of (input.TransactItems as TransactItem[] | undefined) ?? []) {
    for (const kind of ["Put", "Update", "Delete"] as const) {
      const action = entry[kind];
      if (action?.TableName === undefined) continue;
      const bytes = kind === "Put" && action.Item ? itemBytes(action.Item) : 0;
      const units = 2 * Math.max(1, Math.ceil(bytes / 1024));
      floors.set(action.TableName, (floors.get(action.TableName) ?? 0) + units);
    }
  }
  return floors;
}

const ATTRIBUTE_TYPES = new Set(["S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"]);
const isAttributeValue = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" &&
  v !== null &&
  !Array.isArray(v) &&
  Object.keys(v).length === 1 &&
  ATTRIBUTE_TYPES.has(Object.keys(v)[0] ?? "");

/** An item's size as DynamoDB counts it (names plus values), marshalled or plain. */
export function itemBytes(item: Record<string, unknown>): number {
  let bytes = 0;
  for (const [name, value] of Object.entries(item)) bytes += Buffer.byteLength(name) + valueBytes(value);
  return bytes;
}

function valueBytes(value: unknown): number {
  if (isAttributeValue(value)) {
    const [type, inner] = Object.entries(value)[0] as [string, unknown];
    if (type === "M")
      return 3 + itemBytes(inner as Record<string, unknown>) + Object.keys(inner as object).length;
    if (type === "L") return 3 + (inner as unknown[]).reduce<number>((sum, v) => sum + valueBytes(v) + 1, 0);
    if (type === "N") return numberBytes(String(inner));
    if (type === "BOOL" || type === "NULL") return 1;
    if (type === "SS" || type === "NS" || type === "BS")
      return (inner as unknown[]).reduce<number>((sum, v) => sum + Buffer.byteLength(String(v)), 0);
    return Buffer.byteLength(inner instanceof Uint8Array ? Buffer.from(inner) : String(inner));
  }
  if (typeof value === "string") return Buffer.byteLength(value);
  if (typeof value === "number" || typeof value === "bigint") return numberBytes(String(value));
  if (typeof value === "boolean" || value === null || value === undefined) return 1;
  if (value instanceof Uint8Array) return value.byteLength;
  if (Array.isArray(value)) return 3 + value.reduce<number>((sum, v) => sum + valueBytes(v) + 1, 0);
  if (value instanceof Set) return [...value].reduce<number>((sum, v) => sum + valueBytes(v), 0);
  const map = value as Record<string, unknown>;
  return 3 + itemBytes(map) + Object.keys(map).length;
}

/** A number: about one byte per two significant digits, plus one. */
const numberBytes = (digits: string) => Math.ceil(digits.replace(/^-|\.|e.*$/gi, "").length / 2) + 1;
