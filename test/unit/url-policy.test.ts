/**
 * The URL policy for HTTP participants: which addresses may be called (IPv4,
 * IPv6 and the forms that embed IPv4), which base URLs may be registered, and
 * the call-time lookup that refuses a name resolving to a refused address.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.ts";
import { classifyAddress, refusedAddress } from "../../src/http-participants/address-policy.ts";
import { checkHost } from "../../src/http-participants/guarded-lookup.ts";
import { httpCall } from "../../src/http-participants/http-call.ts";
import { checkBaseUrl, endpointUrl } from "../../src/http-participants/url-policy.ts";

describe("address classes", () => {
  it.each([
    ["8.8.8.8", "public"],
    ["1.1.1.1", "public"],
    ["127.0.0.1", "loopback"],
    ["127.255.0.9", "loopback"],
    ["10.0.0.1", "private"],
    ["172.16.0.1", "private"],
    ["172.31.255.255", "private"],
    ["172.32.0.1", "public"],
    ["192.168.1.1", "private"],
    ["100.64.0.1", "shared"],
    ["169.254.169.254", "link-local"],
    ["0.0.0.0", "unspecified"],
    ["224.0.0.1", "multicast"],
    ["255.255.255.255", "reserved"],
    ["192.0.2.10", "reserved"],
    ["2606:4700:4700::1111", "public"],
    ["::1", "loopback"],
    ["0:0:0:0:0:0:0:1", "loopback"],
    ["[::1]", "loopback"],
    ["::", "unspecified"],
    ["fd12:3456::1", "unique-local"],
    ["fc00::1", "unique-local"],
    ["fe80::1", "link-local"],
    ["fe80::1%eth0", "link-local"],
    ["ff02::1", "multicast"],
    ["2001:db8::1", "reserved"],
    // IPv4 inside IPv6: the IPv4 address decides.
    ["::ffff:127.0.0.1", "loopback"],
    ["::ffff:7f00:1", "loopback"],
    ["::ffff:10.1.2.3", "private"],
    ["::ffff:169.254.169.254", "link-local"],
    ["::ffff:8.8.8.8", "public"],
    ["::127.0.0.1", "loopback"],
    ["64:ff9b::10.0.0.1", "private"],
    ["64:ff9b::8.8.8.8", "public"],
    ["2002:c0a8:0101::1", "private"],
  ])("%s is %s", (address, cls) => {
    expect(classifyAddress(address)).toBe(cls);
  });

  it.each(["1.2.3", "256.1.1.1", "example.com", "1:2:3:4:5:6:7:8:9", "::ffff:1.2.3.400", ""])(
    "%s is no address",
    (text) => expect(classifyAddress(text)).toBeUndefined(),
  );

  it("lets private addresses through only when allowed, and never link-local, multicast or unspecified ones", () => {
    expect(refusedAddress("127.0.0.1", false)).toMatch(/loopback.*ALLOW_PRIVATE/);
    expect(refusedAddress("127.0.0.1", true)).toBeUndefined();
    expect(refusedAddress("fd00::1", true)).toBeUndefined();
    expect(refusedAddress("::ffff:192.168.0.1", true)).toBeUndefined();
    for (const never of ["169.254.169.254", "fe80::1", "224.0.0.1", "0.0.0.0", "::"])
      expect(refusedAddress(never, true), never).toMatch(/is a (link-local|multicast|unspecified)/);
    expect(refusedAddress("8.8.8.8", false)).toBeUndefined();
  });
});

describe("base URLs", () => {
  const open = { allowedHosts: [], allowPrivate: false };

  it.each([
    ["ftp://example.com/", /scheme must be http or https, not ftp/],
    ["file:///etc/passwd", /scheme/],
    ["javascript:alert(1)", /scheme/],
    ["not a url", /not a URL/],
    ["https://user:secret@example.com/", /no credentials/],
    ["https://user@example.com/", /no credentials/],
    ["https://example.com/?a=1", /no query or fragment/],
    ["https://example.com/#x", /no query or fragment/],
    ["http://127.0.0.1:8080/", /loopback/],
    ["http://[::1]:8080/", /loopback/],
    ["http://[::ffff:127.0.0.1]/", /loopback/],
    ["http://0x7f.1/", /loopback/],
    ["http://2130706433/", /loopback/],
    ["http://10.1.2.3/", /private/],
    ["http://169.254.169.254/latest/meta-data", /link-local/],
    ["http://localhost:3000/", /loopback name/],
    ["http://api.localhost/", /loopback name/],
    [`https://example.com/${"a".repeat(600)}`, /at most 512/],
  ])("refuses %s", (url, reason) => {
    const checked = checkBaseUrl(url, open);
    expect(checked.ok).toBe(false);
    if (!checked.ok) expect(checked.reason).toMatch(reason);
  });

  it("accepts a public https URL with a path, and says whether its host is a literal address", () => {
    expect(checkBaseUrl("https://api.example.com/tx", open)).toMatchObject({
      ok: true,
      host: "api.example.com",
      literal: false,
    });
    expect(checkBaseUrl("http://8.8.8.8:81", open)).toMatchObject({ ok: true, literal: true });
    expect(checkBaseUrl("http://127.0.0.1:9/", { allowedHosts: [], allowPrivate: true }).ok).toBe(true);
  });

  it("keeps to the host allowlist: exact names, subdomains of a wildcard, literal addresses", () => {
    const policy = { allowedHosts: ["api.example.com", "*.partners.example", "[::1]"], allowPrivate: true };
    expect(checkBaseUrl("https://api.example.com/", policy).ok).toBe(true);
    expect(checkBaseUrl("https://API.EXAMPLE.COM./", policy).ok).toBe(true);
    expect(checkBaseUrl("https://a.partners.example/", policy).ok).toBe(true);
    expect(checkBaseUrl("https://partners.example/", policy).ok).toBe(false);
    expect(checkBaseUrl("https://evilpartners.example/", policy).ok).toBe(false);
    expect(checkBaseUrl("https://api.example.com.evil.net/", policy).ok).toBe(false);
    expect(checkBaseUrl("http://[::1]:8/", policy).ok).toBe(true);
    const refused = checkBaseUrl("https://other.example.com/", policy);
    expect(!refused.ok && refused.reason).toMatch(/not in CONCORD_HTTP_PARTICIPANT_HOSTS/);
  });

  it("appends the endpoint to the base path", () => {
    expect(endpointUrl("https://h.example/tx", "prepare").href).toBe("https://h.example/tx/prepare");
    expect(endpointUrl("https://h.example/tx/", "commit").href).toBe("https://h.example/tx/commit");
    expect(endpointUrl("http://127.0.0.1:9", "action").href).toBe("http://127.0.0.1:9/action");
  });
});

describe("resolving a host", () => {
  it("refuses a name that resolves to any refused address, or to nothing", async () => {
    const resolve = (answers: string[]) => async () => answers;
    expect(await checkHost("ok.example", false, resolve(["93.184.216.34"]))).toBeUndefined();
    expect(await checkHost("rebind.example", false, resolve(["93.184.216.34", "10.0.0.5"]))).toMatch(
      /rebind.example resolves to 10.0.0.5 is a private address/,
    );
    expect(await checkHost("mapped.example", false, resolve(["::ffff:127.0.0.1"]))).toMatch(/loopback/);
    expect(await checkHost("empty.example", false, resolve([]))).toMatch(/resolves to no address/);
    const failing = async () => {
      throw Object.assign(new Error("no such host"), { code: "ENOTFOUND" });
    };
    expect(await checkHost("nx.example", false, failing)).toMatch(/does not resolve \(ENOTFOUND\)/);
  });
});

describe("the call-time lookup", () => {
  let server: Server;
  let port = 0;
  beforeAll(async () => {
    server = createServer((req, res) => {
      req.resume();
      req.on("end", () => res.writeHead(200).end("{}"));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );

  const call = (allowPrivate: boolean) =>
    httpCall({
      url: new URL(`http://localhost:${port}/prepare`),
      body: {},
      headers: {},
      timeoutMs: 2000,
      allowPrivate,
    });

  it("connects only to the addresses it checked: a name resolving to loopback is refused unless allowed", async () => {
    const refused = await call(false);
    expect(refused.kind).toBe("unreachable");
    if (refused.kind === "unreachable") expect(refused.reason).toMatch(/loopback address/);
    expect(await call(true)).toMatchObject({ kind: "response", status: 200 });
  });
});

describe("configuration", () => {
  const env = (extra: Record<string, string>) => ({ ...extra });

  it("defaults to a 3 s timeout, any public host, no private addresses", () => {
    expect(loadConfig(env({})).http).toEqual({ allowedHosts: [], allowPrivate: false, timeoutMs: 3000 });
  });

  it.each([
    [{ CONCORD_HTTP_TIMEOUT_MS: "9000" }, /at most 8000/],
    [{ CONCORD_HTTP_TIMEOUT_MS: "0" }, /integer >= 1/],
    [{ CONCORD_HTTP_TIMEOUT_MS: "3s" }, /integer >= 1/],
    [{ CONCORD_HTTP_PARTICIPANT_ALLOW_PRIVATE: "yes" }, /true or false/],
    [{ CONCORD_HTTP_PARTICIPANT_HOSTS: "https://api.example.com" }, /no scheme or port/],
    [{ CONCORD_HTTP_PARTICIPANT_HOSTS: "api.example.com:443" }, /no scheme or port/],
  ])("refuses %o", (extra, message) => {
    expect(() => loadConfig(env(extra))).toThrow(ConfigError);
    expect(() => loadConfig(env(extra))).toThrow(message);
  });

  it("reads hosts (lower case) and the private switch", () => {
    const { http } = loadConfig(
      env({
        CONCORD_HTTP_PARTICIPANT_HOSTS: "API.example.com, *.partners.example,::1",
        CONCORD_HTTP_PARTICIPANT_ALLOW_PRIVATE: "true",
      }),
    );
    expect(http.allowedHosts).toEqual(["api.example.com", "*.partners.example", "::1"]);
    expect(http.allowPrivate).toBe(true);
  });
});
