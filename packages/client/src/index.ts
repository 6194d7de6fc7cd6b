/** concord's typed HTTP client: `createClient({ baseUrl })`. */
export {
  type BeginOptions,
  type CallOptions,
  ConcordClient,
  type ConcordClientOptions,
  createClient,
  type WaitOptions,
  type WatchOptions,
} from "./client.ts";
export {
  API_ERROR_CODES,
  type ApiErrorCode,
  type ClientErrorCode,
  ConcordError,
  type ConcordErrorCode,
  isConcordError,
} from "./errors.ts";
export type { RetryOptions } from "./retry.ts";
export { GENERIC_ROUTES, ROUTES, type RouteName } from "./routes.ts";
export * from "./types.ts";
