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
  putAccount: { method: "PUT", path: "/v1/bank/{server}/accounts/{account}" },
  getAccount: { method: "GET", path: "/v1/bank/{server}/accounts/{account}" },
  health: { method: "GET", path: "/health" },
} as const;

export type RouteName = keyof typeof ROUTES;

/** A route's path with its `{params}` filled in, each encoded as one path segment. */
export function pathOf(name: RouteName, params: Record<string, string> = {}): string {
  return ROUTES[name].path.replace(/\{(\w+)\}/g, (_, key: string) => {
    const value = params[key];
    if (value === undefined) throw new TypeError(`${name}: ${key} is required`);
    return encodeURIComponent(value);
  });
}
