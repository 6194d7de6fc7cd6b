/** W3C traceparent: what is accepted, how a trace continues, and that every log line names it. */
import { afterEach, describe, expect, it, vi } from "vitest";
import { createRootLogger } from "../../src/log.ts";
import {
  childSpan,
  continueTrace,
  currentLogKeys,
  currentTraceparent,
  parseTraceparent,
  startTrace,
  withScope,
  withTrace,
} from "../../src/trace-context.ts";

const TP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

describe("traceparent", () => {
  it.each([
    ["a valid one", TP, TP],
    ["all-zero trace id", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", undefined],
    ["all-zero parent id", "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", undefined],
    ["upper case", TP.toUpperCase(), undefined],
    ["another version", `01${TP.slice(2)}`, undefined],
    ["a log-injection attempt", `${TP}\n{"level":"ERROR"}`, undefined],
    ["nothing", undefined, undefined],
  ])("%s", (_, value, expected) => {
    expect(parseTraceparent(value)).toBe(expected);
  });

  it("continues a trace in a span of its own, and starts sampled ones", () => {
    const child = childSpan(TP);
    expect(child).toMatch(/^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/);
    expect(child).not.toBe(TP);
    expect(parseTraceparent(startTrace())).toBeDefined();
  });

  it("is held per async context: parallel work never sees another's", async () => {
    const seen = await Promise.all(
      ["a", "b"].map((n) =>
        withTrace(`${TP.slice(0, -2)}0${n === "a" ? 1 : 0}`, async () => {
          await new Promise((r) => setTimeout(r, 5));
          return currentTraceparent();
        }),
      ),
    );
    expect(seen).toEqual([`${TP.slice(0, -2)}01`, `${TP.slice(0, -2)}00`]);
    expect(currentTraceparent()).toBeUndefined();
  });
});

describe("the root logger", () => {
  afterEach(() => vi.restoreAllMocks());

  it("names the current trace on every line, a child's included", () => {
    const lines: string[] = [];
    vi.spyOn(process.stdout, "write").mockImplementation((chunk) => {
      lines.push(String(chunk));
      return true;
    });
    const child = createRootLogger("INFO").createChild({ persistentKeys: { txId: "tx-1" } });
    withTrace(TP, () => child.info("inside"));
    child.info("outside");
    const [inside, outside] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(inside).toMatchObject({
      message: "inside",
      txId: "tx-1",
      traceparent: TP,
      traceId: TP.split("-")[1],
    });
    expect(outside?.traceparent).toBeUndefined();
  });

  it("puts the log keys of the work on every line, parallel work keeping its own, a line's own field winning", async () => {
    const lines: string[] = [];
    vi.spyOn(process.stdout, "write").mockImplementation((chunk) => {
      lines.push(String(chunk));
      return true;
    });
    const log = createRootLogger("INFO").createChild({ serviceName: "concord-participant" });
    await Promise.all(
      ["tx-a", "tx-b"].map((txId, i) =>
        withScope(undefined, { txId }, async () => {
          await new Promise((r) => setTimeout(r, 5 - i * 5));
          log.info("handled");
        }),
      ),
    );
    withScope(undefined, { txId: "tx-c" }, () => log.info("about another", { txId: "tx-d" }));
    log.info("outside");
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(parsed.map((l) => [l.message, l.txId])).toEqual([
      ["handled", "tx-b"],
      ["handled", "tx-a"],
      ["about another", "tx-d"],
      ["outside", undefined],
    ]);
  });

  it.each(["trace", "debug", "info", "warn", "error", "critical"] as const)(
    "puts the work's keys on a %s line too",
    (level) => {
      const lines: string[] = [];
      // warn, error and critical go to stderr.
      for (const stream of [process.stdout, process.stderr]) {
        vi.spyOn(stream, "write").mockImplementation((chunk) => {
          lines.push(String(chunk));
          return true;
        });
      }
      const log = createRootLogger("TRACE");
      withScope(TP, { txId: "tx-1" }, () => log[level]("logged"));
      expect(lines.map((l) => JSON.parse(l) as Record<string, unknown>)).toEqual([
        expect.objectContaining({ message: "logged", txId: "tx-1", traceparent: TP }),
      ]);
    },
  );
});

describe("a trace learned once the work has started (the sweeper's, from the record)", () => {
  it("is continued in a span of its own, within that scope only, and never replaces one it has", async () => {
    const seen = await withScope(undefined, { txId: "tx-1" }, async () => {
      continueTrace(TP);
      const first = currentTraceparent();
      continueTrace(`00-${"1".repeat(32)}-${"2".repeat(16)}-01`);
      await new Promise((r) => setTimeout(r, 1));
      return { first, after: currentTraceparent(), keys: currentLogKeys() };
    });
    expect(seen.first).toMatch(new RegExp(`^00-${TP.split("-")[1]}-[0-9a-f]{16}-01$`));
    expect(seen.first).not.toBe(TP);
    expect(seen.after).toBe(seen.first);
    expect(seen.keys).toEqual({ txId: "tx-1" });
    // Outside any scope there is nothing to continue, and nothing leaks out of one.
    continueTrace(TP);
    expect(currentTraceparent()).toBeUndefined();
    expect(currentLogKeys()).toEqual({});
  });
});
