/**
 * What base URL an HTTP participant may register with, and be called at.
 * `checkBaseUrl` is pure (scheme, credentials, shape, host allowlist, literal
 * addresses); `checkResolvedAddresses` applies the address policy to what a
 * name resolves to (see guarded-lookup.ts for the DNS side).
 */
import { refusedAddress } from "./address-policy.ts";

export interface UrlPolicy {
  /** Exact host names or addresses, or `*.example.com` for any subdomain; empty: any host. */
  readonly allowedHosts: readonly string[];
  readonly allowPrivate: boolean;
}

export type UrlCheck =
  | { readonly ok: true; readonly url: URL; readonly host: string; readonly literal: boolean }
  | { readonly ok: false; readonly reason: string };

export const MAX_BASE_URL_LENGTH = 512;

/** `[::1]` → `::1`: URL keeps IPv6 hosts in brackets, the allowlist and DNS do not. */
const bareHost = (hostname: string) =>
  hostname.startsWith("[") && hostname.endsWith("]") ? hostname.slice(1, -1) : hostname;

function hostAllowed(host: string, allowed: readonly string[]): boolean {
  if (allowed.length === 0) return true;
  return allowed.some((entry) => {
    const wanted = bareHost(entry.toLowerCase());
    if (wanted.startsWith("*.")) return host.endsWith(wanted.slice(1)) && host.length > wanted.length - 1;
    return host === wanted;
  });
}

const refuse = (reason: string): UrlCheck => ({ ok: false, reason });

/**
 * Checks a base URL against the policy. The paths concord calls are appended to
 * it (`{baseUrl}/prepare`), so it carries no query or fragment.
 */
export function checkBaseUrl(raw: string, policy: UrlPolicy): UrlCheck {
  if (raw.length > MAX_BASE_URL_LENGTH)
    return refuse(`a base URL is at most ${MAX_BASE_URL_LENGTH} characters`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return refuse("not a URL");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return refuse(`the scheme must be http or https, not ${url.protocol.replace(/:$/, "")}`);
  }
  if (url.username !== "" || url.password !== "") {
    return refuse(
      "a base URL carries no credentials (user:password@); the participant authenticates concord otherwise",
    );
  }
  if (url.search !== "" || url.hash !== "" || raw.includes("?") || raw.includes("#")) {
    return refuse("a base URL has no query or fragment: concord appends /prepare, /commit, ... to it");
  }
  const host = bareHost(url.hostname.toLowerCase()).replace(/\.$/, "");
  if (host === "") return refuse("the URL names no host");
  if (!hostAllowed(host, policy.allowedHosts)) {
    return refuse(
      `host ${host} is not in CONCORD_HTTP_PARTICIPANT_HOSTS (${policy.allowedHosts.join(", ")})`,
    );
  }
  // `localhost` resolves to loopback everywhere; say so now rather than after DNS.
  const literal = /^[0-9.]+$/.test(host) || host.includes(":");
  if (literal) {
    const refused = refusedAddress(host, policy.allowPrivate);
    if (refused) return refuse(refused);
  } else if ((host === "localhost" || host.endsWith(".localhost")) && !policy.allowPrivate) {
    return refuse(`${host} is a loopback name (set CONCORD_HTTP_PARTICIPANT_ALLOW_PRIVATE=true to allow)`);
  }
  return { ok: true, url, host, literal };
}

/** The first refused address a host resolved to, as a reason; undefined when all may be called. */
export function checkResolvedAddresses(
  host: string,
  addresses: readonly string[],
  allowPrivate: boolean,
): string | undefined {
  if (addresses.length === 0) return `${host} resolves to no address`;
  for (const address of addresses) {
    const refused = refusedAddress(address, allowPrivate);
    if (refused) return `${host} resolves to ${refused}`;
  }
  return undefined;
}

/** `{baseUrl}/{endpoint}`, keeping a base path (`https://h/tx/` + `prepare` → `https://h/tx/prepare`). */
export function endpointUrl(baseUrl: string, endpoint: string): URL {
  const url = new URL(baseUrl);
  url.pathname = `${url.pathname.replace(/\/+$/, "")}/${endpoint}`;
  return url;
}
