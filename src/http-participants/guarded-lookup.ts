/**
 * The DNS side of the URL policy. At registration a host name must resolve,
 * and only to callable addresses. On every call the HTTP client resolves
 * through `guardedLookup`, which refuses the connection when the name now
 * resolves to a refused address: the address checked is the address connected
 * to, so a name that changes its answer after registration (DNS rebinding)
 * reaches nothing it should not.
 */
import { lookup as dnsLookup, type LookupAllOptions } from "node:dns";
import type { LookupFunction } from "node:net";
import { checkResolvedAddresses } from "./url-policy.ts";

/** Resolves a host name to every address it has. */
export type Resolve = (host: string) => Promise<readonly string[]>;

export const systemResolve: Resolve = (host) =>
  new Promise((resolve, reject) => {
    dnsLookup(host, { all: true, verbatim: true } satisfies LookupAllOptions, (err, addresses) =>
      err ? reject(err) : resolve(addresses.map((a) => a.address)),
    );
  });

/** A connection refused by the address policy: never worth retrying sooner than any other failure. */
export class RefusedAddressError extends Error {
  override name = "RefusedAddressError";
}

/** Why a host may not be called, after resolving it; undefined when it may. */
export async function checkHost(
  host: string,
  allowPrivate: boolean,
  resolve: Resolve,
): Promise<string | undefined> {
  let addresses: readonly string[];
  try {
    addresses = await resolve(host);
  } catch (err) {
    return `${host} does not resolve (${(err as NodeJS.ErrnoException).code ?? String(err)})`;
  }
  return checkResolvedAddresses(host, addresses, allowPrivate);
}

/**
 * A `lookup` for node:http's request options: resolves as the system does,
 * then refuses the connection if any address is refused by the policy.
 */
export function guardedLookup(allowPrivate: boolean): LookupFunction {
  return (hostname, options, callback) => {
    const family = options.family === "IPv4" ? 4 : options.family === "IPv6" ? 6 : (options.family ?? 0);
    dnsLookup(hostname, { all: true, verbatim: true, family }, (err, addresses) => {
      if (err) return callback(err, []);
      const refused = checkResolvedAddresses(
        hostname,
        addresses.map((a) => a.address),
        allowPrivate,
      );
      if (refused) return callback(new RefusedAddressError(refused), []);
      if (options.all) return callback(null, addresses);
      const first = addresses[0];
      if (!first) return callback(new RefusedAddressError(`${hostname} resolves to no address`), []);
      callback(null, first.address, first.family);
    });
  };
}
