/**
 * Every route the client calls, once. The integration test checks each against
 * the server's `GET /openapi.json` when the server serves one, so a route the
 * server drops or renames fails a test, not a caller.
 */
export const ROUTES = {
  begin: { method: "POST", path: "/v1/transactions" },
  transfer: { method: "POST", path: "/v1/transfers" },
  get: { method: "GET", path: "/v1/transactions/{id}" },
  list: { method: "GET", path: "/v1/transactions" },
  abort: { method: "POST", path: "/v1/transactions/{id}/abort" },
  retry: { method: "POST", path: "/v1/transactions/{id}/retry" },
  registerParticipant: { method: "POST", path: "/v1/participants" },
  getParticipant: { method: "GET", path: "/v1/participants/{name}" },
  listParticipants: { method: "GET", path: "/v1/participants" },
  putAccount: { method: "PUT", path: "/v1/bank/{server}/accounts/{id}" },
  getAccount: { method: "GET", path: "/v1/bank/{server}/accounts/{id}" },
  /** Any built-in kind's resource: `{kind}` is its path (`inventory`, `payment/customers`, `orders`, ...). */
  getResource: { method: "GET", path: "/v1/{kind*}/{id}" },
  putResource: { method: "PUT", path: "/v1/{kind*}/{id}" },
  health: { method: "GET", path: "/health" },
} as const;

/** Routes whose path stands for several of the server's (the document lists each kind's own). */
export const GENERIC_ROUTES: readonly RouteName[] = ["getResource", "putResource", "health"];

export type RouteName = keyof typeof ROUTES;

/**
 * A route's path with its `{params}` filled in, each encoded as one path
 * segment; a `{param*}` may span several (each of its segments encoded).
 */
export function pathOf(name: RouteName, params: Record<string, string> = {}): string {
  return ROUTES[name].path.replace(/\{(\w+)(\*?)\}/g, (_, key: string, many: string) => {
    const value = params[key];
    if (value === undefined) throw new TypeError(`${name}: ${key} is required`);
    return many
      ? value.split("/").filter(Boolean).map(encodeURIComponent).join("/")
      : encodeURIComponent(value);
  });
}
