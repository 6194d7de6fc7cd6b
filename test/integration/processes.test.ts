import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RoleProcess, startRole } from "../helpers/processes.ts";
import { eventually, testEnv } from "../helpers/stack.ts";

const env = testEnv(`p${randomUUID().slice(0, 12)}`, { CONCORD_SWEEP_INTERVAL_SECONDS: "1" });
const roles: RoleProcess[] = [];
let api = "";

beforeAll(async () => {
  const first = startRole(["coordinator", "--provision"], env);
  roles.push(first);
  await first.ready;
  roles.push(
    startRole(["participants", "--participant", "bank-1"], env),
    startRole(["participants", "--participant", "bank-2", "bank-3"], env),
    startRole(["sweeper"], env),
    startRole(["api", "--port", "0"], env),
  );
  const lines = await Promise.all(roles.map((r) => r.ready));
  api = /API at (\S+)\)/.exec(lines.at(-1) ?? "")?.[1] ?? "";
}, 90_000);

afterAll(async () => {
  await Promise.all(roles.map((r) => r.kill("SIGTERM")));
});

const call = async (method: string, path: string, body?: unknown) => {
  const res = await fetch(`${api}${path}`, { method, ...(body ? { body: JSON.stringify(body) } : {}) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

describe("each role in its own process", () => {
  it("runs a transfer end to end across five processes", async () => {
    expect(api).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect((await call("PUT", "/v1/bank/bank-1/accounts/m1", { balance: 70 })).status).toBe(200);
    expect((await call("PUT", "/v1/bank/bank-3/accounts/m3", { balance: 0 })).status).toBe(200);
    const res = await call("POST", "/v1/transfers?wait=10000", [
      { server_id: "bank-1", account_id: "m1", operation: "withdraw", amount: 70 },
      { server_id: "bank-3", account_id: "m3", operation: "deposit", amount: 70 },
    ]);
    expect(res).toMatchObject({ status: 201, body: { status: "committed" } });
    await eventually(async () =>
      (await call("GET", "/v1/bank/bank-3/accounts/m3")).body.balance === 70 ? true : undefined,
    );
    expect((await call("GET", "/v1/bank/bank-1/accounts/m1")).body).toMatchObject({ balance: 0, version: 2 });
  });
});
