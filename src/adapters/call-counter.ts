type Handler = (args: { input?: unknown }) => Promise<{ output?: unknown }>;
interface InitializeStack {
  add(
    middleware: (next: Handler, context: { commandName?: string }) => Handler,
    options: { step: "initialize"; name: string },
  ): void;
}

/** Sees each counted call's input and, when it succeeds, its output (benchmarks meter capacity and payloads). */
export type CallObserver = (key: string, input: unknown, output: unknown) => void;

/** API calls by `service:Operation`, e.g. `dynamodb:TransactWriteItems`. */
export class CallCounter {
  readonly counts = new Map<string, number>();

  constructor(private readonly observer?: CallObserver) {}

  add(key: string): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  observe(key: string, input: unknown, output: unknown): void {
    this.observer?.(key, input, output);
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
      const key = `${service}:${context.commandName?.replace(/Command$/, "") ?? "unknown"}`;
      counter.add(key);
      const result = await next(args);
      counter.observe(key, args.input, result.output);
      return result;
    },
    { step: "initialize", name: "concordCallCounter" },
  );
}
