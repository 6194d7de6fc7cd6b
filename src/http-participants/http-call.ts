/**
 * One POST to an HTTP participant, with node:http(s): a total time limit
 * (connect to last byte), a bounded response body, no redirects followed, and
 * every connection made through the guarded lookup.
 */
import { Agent as HttpAgent, request as httpRequest } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { currentTraceparent } from "../trace-context.ts";
import { guardedLookup } from "./guarded-lookup.ts";
import { SIGNATURE_HEADER, signature } from "./signature.ts";

/** What came back: a response (its body cut at the limit), no answer in time, or no connection. */
export type CallOutcome =
  | { readonly kind: "response"; readonly status: number; readonly body: string }
  | { readonly kind: "timeout" }
  | { readonly kind: "unreachable"; readonly reason: string };

export interface HttpCall {
  readonly url: URL;
  readonly body: unknown;
  readonly headers: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  readonly allowPrivate: boolean;
  /** Signs the call (`Concord-Signature`) when set: CONCORD_HTTP_PARTICIPANT_SECRET. */
  readonly secret?: string;
}

export type Caller = (call: HttpCall) => Promise<CallOutcome>;

/** More of a response is never read: only a reason is taken from it. */
export const MAX_RESPONSE_BYTES = 64 * 1024;

// Kept-alive connections per process (a warm Lambda calls the same services again).
const agents = { http: new HttpAgent({ keepAlive: true }), https: new HttpsAgent({ keepAlive: true }) };

export const httpCall: Caller = (call) =>
  new Promise((resolve) => {
    const text = JSON.stringify(call.body);
    const payload = Buffer.from(text);
    const https = call.url.protocol === "https:";
    let settled = false;
    const traceparent = currentTraceparent();
    const finish = (outcome: CallOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(outcome);
    };
    const req = (https ? httpsRequest : httpRequest)(
      call.url,
      {
        method: "POST",
        agent: https ? agents.https : agents.http,
        lookup: guardedLookup(call.allowPrivate),
        headers: {
          "content-type": "application/json",
          "content-length": String(payload.length),
          "user-agent": "concord",
          // The transaction's trace, for the service's own logs and spans (W3C Trace Context).
          ...(traceparent !== undefined ? { traceparent } : {}),
          ...call.headers,
          ...(call.secret
            ? { [SIGNATURE_HEADER]: signature(call.secret, "POST", call.url.pathname, text, Date.now()) }
            : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        const done = () =>
          finish({
            kind: "response",
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString("utf8").slice(0, MAX_RESPONSE_BYTES),
          });
        res.on("data", (chunk: Buffer) => {
          if (size >= MAX_RESPONSE_BYTES) return;
          chunks.push(chunk.subarray(0, MAX_RESPONSE_BYTES - size));
          size += chunk.length;
          // Enough to judge by: stop reading, drop the connection rather than drain it.
          if (size >= MAX_RESPONSE_BYTES) {
            done();
            res.destroy();
          }
        });
        res.on("end", done);
        res.on("error", done);
      },
    );
    const timer = setTimeout(() => {
      finish({ kind: "timeout" });
      req.destroy();
    }, call.timeoutMs);
    req.on("error", (err: NodeJS.ErrnoException) =>
      finish({ kind: "unreachable", reason: err.code ?? err.message }),
    );
    req.end(payload);
  });
