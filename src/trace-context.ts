/**
 * W3C Trace Context (`traceparent`) carried through a transaction's work: the
 * API takes it from the request (or starts one), every SQS message it and the
 * roles send carries it as a message attribute, each role handles a message
 * under the trace it came with, and the dispatcher passes it to HTTP
 * participants. The current one is held per async context, so messages handled
 * in parallel never mix their traces.
 *
 * The same context holds the log keys of the work running now (the transaction
 * it is about, the Lambda invocation): the root logger (log.ts) puts them on
 * every line, so that code under a message's handling logs through the logger
 * it was built with and still names the transaction, in every role.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { randomBytes } from "node:crypto";

/** Log keys: flat string, number or boolean values, as they appear on a line. */
export type LogKeys = Readonly<Record<string, string | number | boolean>>;

interface WorkContext {
  /** Set once, by `withTrace` or `continueTrace`; each scope has its own object, so it never leaks to another. */
  traceparent: string | undefined;
  readonly keys: LogKeys;
}

const storage = new AsyncLocalStorage<WorkContext>();

/** Version 00: `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`, ids not all zeros. */
const TRACEPARENT = /^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/;

/** A header or attribute value as a traceparent, or undefined when it is not one (then a new trace starts). */
export const parseTraceparent = (value: string | undefined): string | undefined =>
  value !== undefined && TRACEPARENT.test(value.trim()) ? value.trim() : undefined;

/** A new trace, sampled. */
export const startTrace = (): string =>
  `00-${randomBytes(16).toString("hex")}-${randomBytes(8).toString("hex")}-01`;

/** The same trace, with a span of our own as the parent of what follows. */
export const childSpan = (traceparent: string): string => {
  const [version, traceId, , flags] = traceparent.split("-");
  return `${version}-${traceId}-${randomBytes(8).toString("hex")}-${flags}`;
};

export const traceIdOf = (traceparent: string): string => traceparent.split("-")[1] ?? "";

/** The traceparent of the work running now, if it has one. */
export const currentTraceparent = (): string | undefined => storage.getStore()?.traceparent;

/** The log keys of the work running now (none outside any scope). */
export const currentLogKeys = (): LogKeys => storage.getStore()?.keys ?? {};

/** Runs `work` in a scope of its own, under `traceparent` (none: the current one) with `keys` added. */
export const withScope = <T>(traceparent: string | undefined, keys: LogKeys, work: () => T): T => {
  const outer = storage.getStore();
  return storage.run(
    { traceparent: traceparent ?? outer?.traceparent, keys: { ...outer?.keys, ...keys } },
    work,
  );
};

/** Runs `work` under `traceparent` (none: as it is). */
export const withTrace = <T>(traceparent: string | undefined, work: () => T): T =>
  traceparent === undefined ? work() : withScope(traceparent, {}, work);

/**
 * Work that learns its trace only once it has started (the sweeper, from the
 * record it loaded) continues it, in a span of its own, from here on: what it
 * logs and sends next carries it. No-op outside a scope or in one that has a
 * trace already.
 */
export const continueTrace = (traceparent: string | undefined): void => {
  const context = storage.getStore();
  if (context && context.traceparent === undefined && traceparent !== undefined)
    context.traceparent = childSpan(traceparent);
};

/** The SQS message attribute that carries it. */
export const TRACEPARENT_ATTRIBUTE = "traceparent";
