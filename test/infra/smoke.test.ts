/**
 * `npm run smoke` against a real concord over HTTP: the local runtime on the
 * emulators, with API keys on, as a deployed stack has them.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runSmoke } from "../../scripts/smoke.ts";
import { loadConfig } from "../../src/config.ts";
import { type Runtime, startRuntime } from "../../src/local/runtime.ts";
import { silentLogger } from "../../testkit/logging.ts";
import { testEnv } from "../helpers/stack.ts";

let runtime: Runtime;
let url: string;

beforeAll(async () => {
  const config = loadConfig(
    testEnv(`s${crypto.randomUUID().slice(0, 10)}`, { CONCORD_ADMIN_KEYS: "smoke-admin-key" }),
  );
  runtime = await startRuntime({
    config,
    provision: true,
    port: 0,
    visibilityTimeoutSeconds: 2,
    sweepIntervalMs: 250,
    log: silentLogger(),
  });
  url = runtime.url ?? "";
});

afterAll(() => runtime?.stop());

describe("npm run smoke", () => {
  it("runs one transfer to completion and reports it committed, with the balances moved", async () => {
    const lines: string[] = [];
    const result = await runSmoke({ url: `${url}/`, key: "smoke-admin-key", log: (l) => lines.push(l) });
    expect(result).toMatchObject({ ok: true, status: "committed", phase: "committed", balances: [900, 100] });
    expect(lines.at(-1)).toMatch(/^outcome: committed .* -> OK$/);
  });

  it("fails loudly, changing nothing, when the deployment wants a key it was not given", async () => {
    await expect(runSmoke({ url, log: () => {} })).rejects.toThrow(/401/);
  });
});
