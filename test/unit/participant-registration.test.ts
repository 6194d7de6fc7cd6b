/**
 * Registering HTTP participants through the API (`app.request()`, no server):
 * who may, which names and URLs are refused and why, what a repeat gets — over
 * an in-memory registry and a stubbed resolver, so private and rebinding
 * answers can be given on purpose. And where messages for each participant go.
 */
import { describe, expect, it } from "vitest";
import { buildTopology, DISPATCHER_QUEUE, queueFor } from "../../infra/topology.ts";
import { createApp } from "../../src/api/app.ts";
import {
  type HttpParticipant,
  NameTakenError,
  type ParticipantRegistry,
} from "../../src/http-participants/registry.ts";
import { InvalidCursorError } from "../../src/ports/errors.ts";
import { silentLogger } from "../../testkit/logging.ts";

function memoryRegistry(): ParticipantRegistry & { readonly size: () => number } {
  const records = new Map<string, HttpParticipant>();
  return {
    size: () => records.size,
    async create(p) {
      const existing = records.get(p.name);
      if (existing) throw new NameTakenError(existing);
      records.set(p.name, p);
    },
    get: async (name) => records.get(name),
    getMany: async (names) => new Map([...records].filter(([n]) => names.includes(n))),
    async list({ limit, cursor }) {
      if (cursor !== undefined && !records.has(cursor)) throw new InvalidCursorError("unknown");
      const names = [...records.keys()].sort();
      const from = cursor === undefined ? 0 : names.indexOf(cursor) + 1;
      const items = names.slice(from, from + limit).map((n) => records.get(n) as HttpParticipant);
      const last = items.at(-1);
      return { items, ...(from + limit < names.length && last ? { nextCursor: last.name } : {}) };
    },
  };
}

const DNS: Record<string, string[]> = {
  "api.partner.example": ["93.184.216.34"],
  "rebind.partner.example": ["93.184.216.34", "10.0.0.7"],
  "mapped.partner.example": ["::ffff:127.0.0.1"],
};

function app(options: { allowPrivate?: boolean; allowedHosts?: string[] } = {}) {
  const registry = memoryRegistry();
  const api = createApp({
    // Only the registry's routes are exercised: the rest of the API is not reached.
    ...({} as Parameters<typeof createApp>[0]),
    resources: [],
    catalog: new Map(),
    keys: { client: ["client"], admin: ["admin"] },
    log: silentLogger(),
    participants: {
      registry,
      builtIn: ["bank-1", "bank-2", "inventory"],
      urlPolicy: { allowedHosts: options.allowedHosts ?? [], allowPrivate: options.allowPrivate ?? false },
      resolve: async (host) => {
        const found = DNS[host];
        if (!found) throw Object.assign(new Error("not found"), { code: "ENOTFOUND" });
        return found;
      },
      clock: () => Date.UTC(2030, 0, 1),
    },
  });
  /** `key` null sends no Authorization header at all. */
  const call = async (method: string, path: string, body?: unknown, key: string | null = "admin") => {
    const res = await api.request(path, {
      method,
      headers: {
        ...(key === null ? {} : { authorization: `Bearer ${key}` }),
        "content-type": "application/json",
      },
      ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
    });
    // biome-ignore lint/suspicious/noExplicitAny: tests read whatever JSON the API answered
    return { status: res.status, body: (await res.json()) as any, headers: res.headers };
  };
  return { call, registry };
}

const body = (over: Record<string, unknown> = {}) => ({
  name: "loyalty",
  baseUrl: "https://api.partner.example/concord/",
  protocols: ["saga", "2pc", "saga"],
  ...over,
});

describe("POST /v1/participants", () => {
  it("registers a participant (201), answers the same body again with it (200), another with 409", async () => {
    const { call, registry } = app();
    const created = await call("POST", "/v1/participants", body());
    expect(created.status).toBe(201);
    expect(created.body).toEqual({
      name: "loyalty",
      baseUrl: "https://api.partner.example/concord",
      protocols: ["2pc", "saga"],
      createdAt: "2030-01-01T00:00:00.000Z",
      version: 1,
    });
    expect(created.headers.get("location")).toBe("/v1/participants/loyalty");
    const again = await call(
      "POST",
      "/v1/participants",
      body({ baseUrl: "https://api.partner.example/concord" }),
    );
    expect(again.status).toBe(200);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(again.body).toEqual(created.body);
    const other = await call("POST", "/v1/participants", body({ protocols: ["saga"] }));
    expect(other.status).toBe(409);
    expect(other.body.error).toMatchObject({
      code: "conflict",
      details: { registered: { protocols: ["2pc", "saga"] } },
    });
    expect(registry.size()).toBe(1);
  });

  it("needs an admin key: 401 without a key, 403 with a client key, for reads too", async () => {
    const { call, registry } = app();
    expect((await call("POST", "/v1/participants", body(), null)).status).toBe(401);
    expect((await call("POST", "/v1/participants", body(), "wrong")).status).toBe(401);
    expect((await call("GET", "/v1/participants", undefined, null)).status).toBe(401);
    expect((await call("GET", "/v1/participants/loyalty", undefined, null)).status).toBe(401);
    const forbidden = await call("POST", "/v1/participants", body(), "client");
    expect(forbidden).toMatchObject({ status: 403, body: { error: { code: "forbidden" } } });
    expect((await call("GET", "/v1/participants", undefined, "client")).status).toBe(403);
    expect((await call("GET", "/v1/participants/loyalty", undefined, "client")).status).toBe(403);
    expect(registry.size()).toBe(0);
  });

  it.each([
    ["bank-1", /built-in participant/],
    ["inventory", /built-in participant/],
    ["shipping", /built-in participant/],
    ["bank-7", /reserved for bank servers/],
    ["coordinator", /concord's own roles/],
    ["dispatcher", /concord's own roles/],
  ])("refuses the reserved name %s with 409", async (name, message) => {
    const { call, registry } = app();
    const res = await call("POST", "/v1/participants", body({ name }));
    expect(res.status).toBe(409);
    expect(res.body.error.message).toMatch(message);
    expect(registry.size()).toBe(0);
  });

  it.each([
    ["a bad name", { name: "Loyalty!" }, "name"],
    ["a long name", { name: `a${"b".repeat(40)}` }, "name"],
    ["no protocol", { protocols: [] }, "protocols"],
    ["an unknown protocol", { protocols: ["xa"] }, "protocols.0"],
    ["an extra field", { secret: "x" }, ""],
  ])("refuses %s with 400", async (_what, over, path) => {
    const { call } = app();
    const res = await call("POST", "/v1/participants", body(over));
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("invalid_request");
    expect(res.body.error.details.map((d: { path: string }) => d.path)).toContain(path);
  });

  it.each([
    ["a file URL", "file:///etc/passwd", /scheme/],
    ["credentials", "https://u:p@api.partner.example/", /credentials/],
    ["a loopback address", "http://127.0.0.1:8080", /loopback/],
    ["an IPv4-mapped loopback address", "http://[::ffff:127.0.0.1]:8080", /loopback/],
    ["a private address", "http://192.168.0.10/", /private/],
    ["the metadata endpoint", "http://169.254.169.254/", /link-local/],
    [
      "a name that resolves to a private address",
      "https://rebind.partner.example/",
      /10\.0\.0\.7 is a private/,
    ],
    ["a name that resolves to a mapped loopback address", "https://mapped.partner.example/", /loopback/],
    ["a name that does not resolve", "https://nowhere.partner.example/", /does not resolve/],
  ])("refuses %s with 400 on baseUrl", async (_what, baseUrl, reason) => {
    const { call, registry } = app();
    const res = await call("POST", "/v1/participants", body({ baseUrl }));
    expect(res.status).toBe(400);
    expect(res.body.error.details).toEqual([{ path: "baseUrl", message: expect.stringMatching(reason) }]);
    expect(registry.size()).toBe(0);
  });

  it("accepts private addresses when configured to, and keeps to the host allowlist", async () => {
    expect(
      (
        await app({ allowPrivate: true }).call(
          "POST",
          "/v1/participants",
          body({ baseUrl: "http://127.0.0.1:9000" }),
        )
      ).status,
    ).toBe(201);
    const listed = app({ allowedHosts: ["*.partner.example"] });
    expect((await listed.call("POST", "/v1/participants", body())).status).toBe(201);
    const off = await listed.call(
      "POST",
      "/v1/participants",
      body({ name: "other", baseUrl: "https://93.184.216.34/" }),
    );
    expect(off.status).toBe(400);
    expect(off.body.error.details[0].message).toMatch(/not in CONCORD_HTTP_PARTICIPANT_HOSTS/);
  });
});

describe("GET /v1/participants", () => {
  it("lists in pages of at most 100, reads one, 404 for an unknown one", async () => {
    const { call } = app();
    for (const name of ["a-one", "b-two", "c-three"])
      expect((await call("POST", "/v1/participants", body({ name }))).status).toBe(201);
    const first = await call("GET", "/v1/participants?limit=2");
    expect(first.body.participants.map((p: { name: string }) => p.name)).toEqual(["a-one", "b-two"]);
    const second = await call("GET", `/v1/participants?limit=2&cursor=${first.body.nextCursor}`);
    expect(second.body).toEqual({ participants: [expect.objectContaining({ name: "c-three" })] });
    expect((await call("GET", "/v1/participants?limit=101")).status).toBe(400);
    expect((await call("GET", "/v1/participants?cursor=zzz")).status).toBe(400);
    expect((await call("GET", "/v1/participants/b-two")).body.name).toBe("b-two");
    expect((await call("GET", "/v1/participants/nope")).status).toBe(404);
    expect((await call("GET", "/v1/participants/NOT%20A%20NAME")).status).toBe(404);
  });
});

describe("routing participant messages", () => {
  const topology = buildTopology({
    prefix: "p",
    bankServers: ["bank-1", "bank-2"],
    commerceParticipants: ["inventory"],
    dueShards: 1,
    sweepIntervalSeconds: 60,
  });

  it("sends a built-in participant's messages to its own queue, every other's to the dispatcher", () => {
    expect(queueFor(topology, "bank-1")).toBe("participant-bank-1");
    expect(queueFor(topology, "inventory")).toBe("participant-inventory");
    expect(queueFor(topology, "loyalty")).toBe(DISPATCHER_QUEUE);
    // Not run by this deployment: no queue of its own, so it can only be a registered HTTP participant.
    expect(queueFor(topology, "payment")).toBe(DISPATCHER_QUEUE);
  });
});
