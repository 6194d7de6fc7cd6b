type Handler = (args: unknown) => Promise<unknown>;
interface InitializeStack {
  add(
    middleware: (next: Handler, context: { commandName?: string }) => Handler,
    options: { step: "initialize"; name: string },
  ): void;
}

/** API calls by `service:Operation`, e.g. `dynamodb:TransactWriteItems`. */
export class CallCounter {
  readonly counts = new Map<string, number>();

  add(key: string): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  snapshot(): Record<string, number> {
    return Object.fromEntries([...this.counts].sort(([a], [b]) => a.localeCompare(b)));
  }

  reset(): void {
    this.counts.clear();
  }
}

/** Counts each API call once: the initialize step runs before, and outside, the SDK's own retries. */
export function countCalls(
  client: { middlewareStack: unknown },
  service: string,
  counter: CallCounter,
): void {
  (client.middlewareStack as InitializeStack).add(
    (next, context) => async (args) => {
      counter.add(`${service}:${context.commandName?.replace(/Command$/, "") ?? "unknown"}`);
      return next(args);
    },
    { step: "initialize", name: "concordCallCounter" },
  );
}
