/**
 * W3C Trace Context (`traceparent`) carried through a transaction's work: the
 * API takes it from the request (or starts one), every SQS message it and the
 * roles send carries it as a message attribute, each role handles a message
 * under the trace it came with, and the dispatcher passes it to HTTP
 * participants. The current one is held per async context, so messages handled
 * in parallel never mix their traces.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { randomBytes } from "node:crypto";

const storage = new AsyncLocalStorage<string>();

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
export const currentTraceparent = (): string | undefined => storage.getStore();

/** Runs `work` under `traceparent` (none: as it is). */
export const withTrace = <T>(traceparent: string | undefined, work: () => T): T =>
  traceparent === undefined ? work() : storage.run(traceparent, work);

/** The SQS message attribute that carries it. */
export const TRACEPARENT_ATTRIBUTE = "traceparent";
