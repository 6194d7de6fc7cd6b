/**
 * Where the dispatcher's signing secret comes from. Locally it is the
 * environment's (CONCORD_HTTP_PARTICIPANT_SECRET), fixed for the process; on
 * Lambda it is a Secrets Manager secret, read on the first call and cached in
 * the warm function for at most `refreshMs`, so a rotated secret is signed with
 * within that bound without a read per call.
 */
import type { Logger } from "@aws-lambda-powertools/logger";

/** The secret to sign the next call with; undefined: calls go unsigned (none configured). */
export type SigningSecret = () => Promise<string | undefined>;

/** How long a warm dispatcher signs with what it read before reading the secret again. */
export const SECRET_REFRESH_MS = 5 * 60_000;
/** After a failed read, the last secret is used this long before the next read is tried. */
export const SECRET_RETRY_MS = 30_000;

/** No secret read in this process and none can be: no call is made unsigned in its place. */
export class SigningSecretUnavailableError extends Error {
  override name = "SigningSecretUnavailableError";
}

export const fixedSecret =
  (secret: string | undefined): SigningSecret =>
  async () =>
    secret;

export interface RefreshingSecretOptions {
  /** Reads the secret's current value (Secrets Manager's GetSecretValue). */
  readonly read: () => Promise<string>;
  readonly clock: () => number;
  readonly log: Logger;
  readonly refreshMs?: number;
  readonly retryMs?: number;
}

/**
 * Reads once, then again at most every `refreshMs`; concurrent calls share one
 * read. A failed refresh keeps the last value (logged) and tries again after
 * `retryMs`; with no value yet the call fails (the message is retried), never
 * unsigned: services that check signatures would refuse it anyway.
 */
export function refreshingSecret(options: RefreshingSecretOptions): SigningSecret {
  const { read, clock, log } = options;
  const refreshMs = options.refreshMs ?? SECRET_REFRESH_MS;
  const retryMs = options.retryMs ?? SECRET_RETRY_MS;
  let value: string | undefined;
  let nextReadAt = 0;
  let reading: Promise<string> | undefined;

  async function refresh(): Promise<string> {
    try {
      const fresh = await read();
      if (fresh.length === 0) throw new Error("the secret is empty");
      value = fresh;
      nextReadAt = clock() + refreshMs;
      return fresh;
    } catch (err) {
      if (value === undefined) {
        throw new SigningSecretUnavailableError("the HTTP participants' signing secret cannot be read", {
          cause: err,
        });
      }
      log.warn("could not read the signing secret again; signing with the one read before", {
        error: (err as Error).message,
      });
      nextReadAt = clock() + retryMs;
      return value;
    } finally {
      reading = undefined;
    }
  }

  return async () => {
    if (value !== undefined && clock() < nextReadAt) return value;
    reading ??= refresh();
    return reading;
  };
}
