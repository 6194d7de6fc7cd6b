import { basename, join } from "node:path";

/**
 * Where the bundle of a function's entry lives: `functions/participant.ts` is
 * bundled to `<bundlesDir>/participant/index.mjs` (scripts/bundle.ts), and
 * every Lambda runs it with the handler `index.handler`.
 */
export const bundleName = (entry: string): string => basename(entry, ".ts");
export const bundleDir = (bundlesDir: string, entry: string): string => join(bundlesDir, bundleName(entry));
export const BUNDLE_FILE = "index.mjs";
export const HANDLER = "index.handler";
