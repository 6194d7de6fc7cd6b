/**
 * The `Concord-Signature` header: `t=<unix seconds>,v1=<hex HMAC-SHA256>`,
 * the HMAC over `<t>.<METHOD>.<path>.<body>` with the secret the dispatcher
 * and the service share (`CONCORD_HTTP_PARTICIPANT_SECRET`). The timestamp
 * bounds a replay to the allowed clock skew; the path and method stop a
 * signed `/rollback` being replayed as a `/commit`. WebCrypto only, so it runs
 * wherever `Request` does.
 */

export const SIGNATURE_HEADER = "concord-signature";

/** How far the signature's time may be from the service's clock, by default. */
export const DEFAULT_MAX_SKEW_MS = 5 * 60_000;

const encoder = new TextEncoder();

async function hmacHex(secret: string, payload: string): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(payload)));
  return Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** What is signed: exactly these bytes, in this order. */
export const signedPayload = (timestamp: number, method: string, path: string, body: string) =>
  `${timestamp}.${method.toUpperCase()}.${path}.${body}`;

/** The header's value for a request (what the dispatcher sends). */
export async function signRequest(
  secret: string,
  request: { method: string; path: string; body: string; timestamp: number },
): Promise<string> {
  const mac = await hmacHex(
    secret,
    signedPayload(request.timestamp, request.method, request.path, request.body),
  );
  return `t=${request.timestamp},v1=${mac}`;
}

/** Constant time for equal lengths: how much of a guess matched never shows in the answer's timing. */
function sameText(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

export type SignatureCheck = { readonly ok: true } | { readonly ok: false; readonly why: string };

/**
 * Checks a header against every secret given (more than one while a secret is
 * being rotated) and the clock. `now` in epoch ms.
 */
export async function verifySignature(
  header: string | null | undefined,
  request: { method: string; path: string; body: string },
  secrets: readonly string[],
  now: number,
  maxSkewMs = DEFAULT_MAX_SKEW_MS,
): Promise<SignatureCheck> {
  if (!header) return { ok: false, why: "no signature" };
  let timestamp: number | undefined;
  const macs: string[] = [];
  for (const part of header.split(",")) {
    const [name, value] = part.trim().split("=", 2);
    if (name === "t" && value && /^\d{1,12}$/.test(value)) timestamp = Number(value);
    else if (name === "v1" && value) macs.push(value.toLowerCase());
  }
  if (timestamp === undefined || macs.length === 0) return { ok: false, why: "malformed signature" };
  if (Math.abs(now - timestamp * 1000) > maxSkewMs) return { ok: false, why: "signature too old or too new" };
  for (const secret of secrets) {
    const expected = await hmacHex(
      secret,
      signedPayload(timestamp, request.method, request.path, request.body),
    );
    if (macs.some((mac) => sameText(mac, expected))) return { ok: true };
  }
  return { ok: false, why: "signature does not match" };
}
