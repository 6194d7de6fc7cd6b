/**
 * The dispatcher's side of `Concord-Signature` (packages/participant checks
 * it): `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<METHOD>.<path>.<body>">`
 * with CONCORD_HTTP_PARTICIPANT_SECRET, so a service can tell concord's calls
 * from anyone else's and a captured call cannot be replayed past the skew it
 * allows.
 */
import { createHmac } from "node:crypto";

export const SIGNATURE_HEADER = "concord-signature";

export function signature(secret: string, method: string, path: string, body: string, nowMs: number): string {
  const t = Math.floor(nowMs / 1000);
  const mac = createHmac("sha256", secret)
    .update(`${t}.${method.toUpperCase()}.${path}.${body}`)
    .digest("hex");
  return `t=${t},v1=${mac}`;
}
