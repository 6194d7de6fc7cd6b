/**
 * The dashboard in a real browser: Debian's chromium, driven by playwright-core,
 * against a whole stack served on 127.0.0.1 with API keys on. It asks for a key,
 * lists transactions, finds one by id, shows its branches and events, hides the
 * admin buttons from a client key, aborts a pending transaction with an admin
 * key, and shows a hostile reason as text without running it.
 *
 * Without /usr/bin/chromium the file is skipped locally; with
 * CONCORD_REQUIRE_BROWSER=1 (set by .ci/run, which installs chromium) it fails.
 * CONCORD_UPDATE_SCREENSHOT=1 writes docs/dashboard.png.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { serve } from "@hono/node-server";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CONTENT_SECURITY_POLICY } from "../../src/api/ui/routes.ts";
import type { TransactionView } from "../../src/core/view.ts";
import { type HttpService, startHttpService } from "../helpers/http-service.ts";
import { eventually, type Stack, startStack } from "../helpers/stack.ts";

const CHROMIUM = "/usr/bin/chromium";
const haveChromium = existsSync(CHROMIUM);
const ADMIN = "admin-key-for-dashboard-tests";
const CLIENT = "client-key-for-dashboard-tests";
/** What a participant's refusal says: markup that would set window.__pwned if it ever ran. */
const HOSTILE_REASON = `<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>`;
const HOSTILE_INPUT = `<script>window.__pwned=3</script>`;
const SCREENSHOT = resolve(import.meta.dirname, "../../docs/dashboard.png");

if (!haveChromium) {
  if (process.env.CONCORD_REQUIRE_BROWSER === "1") {
    it("has chromium to test the dashboard with", () => {
      expect.fail(`${CHROMIUM} is missing; .ci/run installs Debian's chromium package`);
    });
  } else {
    console.warn(`dashboard browser test skipped: ${CHROMIUM} is missing (apt-get install chromium)`);
  }
}

describe.skipIf(!haveChromium)("the dashboard in chromium", () => {
  let stack: Stack;
  let picky: HttpService;
  let sleepy: HttpService;
  let server: ReturnType<typeof serve> | undefined;
  let base: string;
  let profile: string;
  let context: BrowserContext | undefined;
  let page: Page;
  const pageErrors: string[] = [];
  const ids = { committed: "payout-2024-0042", hostile: "loyalty-redeem-17", pending: "refund-0913" };

  async function call(method: string, path: string, body?: unknown, key = ADMIN) {
    const res = await stack.request(method, path, body, { authorization: `Bearer ${key}` });
    return { status: res.status, body: (await res.json()) as TransactionView };
  }

  beforeAll(async () => {
    [picky, sleepy] = await Promise.all([startHttpService(), startHttpService()]);
    // picky refuses with markup for a reason; sleepy never prepares, so its transactions stay pending.
    picky.answer("prepare", () => ({ status: 409, body: { reason: HOSTILE_REASON } }));
    sleepy.answer("prepare", () => ({ status: 503 }));
    stack = await startStack({
      bankServers: ["bank-1", "bank-2"],
      env: {
        CONCORD_COMMERCE_PARTICIPANTS: "none",
        CONCORD_API_KEYS: CLIENT,
        CONCORD_ADMIN_KEYS: ADMIN,
        CONCORD_HTTP_PARTICIPANT_ALLOW_PRIVATE: "true",
        CONCORD_HTTP_PARTICIPANT_HOSTS: "127.0.0.1",
        CONCORD_HTTP_TIMEOUT_MS: "500",
      },
    });
    server = await new Promise<ReturnType<typeof serve>>((done) => {
      const s = serve(
        { fetch: stack.runtime.roles.of("api").http.fetch, port: 0, hostname: "127.0.0.1" },
        () => done(s),
      );
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    for (const [name, service] of [
      ["picky", picky],
      ["sleepy", sleepy],
    ] as const) {
      const res = await call("POST", "/v1/participants", { name, baseUrl: service.url, protocols: ["2pc"] });
      expect(res.status).toBe(201);
    }
    for (const [server, account] of [
      ["bank-1", "alice"],
      ["bank-2", "bob"],
    ]) {
      expect((await call("PUT", `/v1/bank/${server}/accounts/${account}`, { balance: 10_000 })).status).toBe(
        200,
      );
    }
    const withdraw = { participant: "bank-1", action: "withdraw", input: { account: "alice", amount: 25 } };
    const deposit = { participant: "bank-2", action: "deposit", input: { account: "bob", amount: 25 } };
    const begin = async (body: unknown, wait = 10_000) => {
      const res = await call("POST", `/v1/transactions?wait=${wait}`, body, CLIENT);
      expect([201, 202], JSON.stringify(res.body)).toContain(res.status);
    };
    await begin({ id: ids.committed, protocol: "2pc", branches: [withdraw, deposit] });
    await begin({
      id: ids.hostile,
      protocol: "2pc",
      branches: [withdraw, { participant: "picky", action: "redeem", input: { note: HOSTILE_INPUT } }],
    });
    for (let i = 1; i <= 3; i++) {
      await begin({
        id: `transfer-31${i}`,
        protocol: "saga",
        branches: [
          { ...withdraw, compensation: { action: "deposit", input: withdraw.input } },
          { ...deposit, compensation: { action: "withdraw", input: deposit.input } },
        ],
      });
    }
    await begin(
      {
        id: ids.pending,
        protocol: "2pc",
        timeoutMs: 300_000,
        branches: [deposit, { participant: "sleepy", action: "refund", input: { amount: 25 } }],
      },
      0,
    );
    // stack.settle reads without a key; these reads carry one.
    for (const id of [ids.committed, ids.hostile]) {
      await eventually(async () => {
        const { body } = await call("GET", `/v1/transactions/${id}`, undefined, CLIENT);
        return ["committed", "aborted"].includes(body.phase) ? body : undefined;
      }, 20_000);
    }

    profile = mkdtempSync(join(tmpdir(), "concord-chromium-"));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
      ],
      viewport: { width: 1200, height: 750 },
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on("pageerror", (err) => pageErrors.push(String(err)));
    page.on("console", (msg) => {
      // A 401 or 404 answer is logged as a failed load; it is the API speaking, not the page failing.
      if (msg.type() === "error" && !msg.text().startsWith("Failed to load resource"))
        pageErrors.push(msg.text());
    });
  }, 120_000);

  afterAll(async () => {
    await context?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    await new Promise<void>((done) => {
      if (!server) return done();
      server.close(() => done());
      (server as { closeAllConnections?: () => void }).closeAllConnections?.();
    });
    await stack?.stop();
    await Promise.all([picky?.stop(), sleepy?.stop()]);
  }, 60_000);

  async function useKey(key: string) {
    await page.locator("#api-key").fill(key);
    await page.getByRole("button", { name: "Use key" }).click();
  }

  it("serves the shell without a key, under a strict Content-Security-Policy", async () => {
    const res = await page.goto(`${base}/ui`);
    expect(res?.status()).toBe(200);
    const headers = res?.headers() ?? {};
    expect(headers["content-security-policy"]).toBe(CONTENT_SECURITY_POLICY);
    expect(headers["content-security-policy"]).toContain("script-src 'self'");
    expect(headers["x-content-type-options"]).toBe("nosniff");
    expect(headers["referrer-policy"]).toBe("no-referrer");
    // The data needs a key: the page asks for one.
    await expect.poll(() => page.locator("#api-key").isVisible()).toBe(true);
  });

  it("with a client key lists transactions and finds one by id, showing its branches and events", async () => {
    await useKey(CLIENT);
    const list = page.locator("#transactions");
    await expect.poll(() => list.locator("tr").count(), { timeout: 10_000 }).toBeGreaterThanOrEqual(6);
    expect(await list.innerText()).toContain(ids.committed);

    // A hostile id in the search box is only text.
    await page.locator("#search-id").fill(`<img src=x onerror="window.__pwned=4">`);
    await page.getByRole("button", { name: "Find" }).click();
    await expect.poll(() => page.locator("#search-message").innerText()).toContain('no transaction "<img');

    await page.locator("#search-id").fill(ids.committed);
    await page.getByRole("button", { name: "Find" }).click();
    await page.waitForURL(`${base}/ui/transactions/${ids.committed}`);
    await expect.poll(() => page.locator("#branches tr").count(), { timeout: 10_000 }).toBe(2);
    const branches = await page.locator("#branches").innerText();
    expect(branches).toContain("bank-1");
    expect(branches).toContain("withdraw");
    expect(branches).toContain("committed");
    expect(await page.locator("#events li").count()).toBeGreaterThanOrEqual(3);
    expect(await page.locator("#events").innerText()).toContain("decision");
    // No admin buttons for a client key.
    expect(await page.locator("#abort-button").count()).toBe(0);
    expect(await page.locator("main").innerText()).toContain("Abort and retry need an admin key.");
  });

  it("shows a hostile reason and input as text and runs none of it", async () => {
    await page.goto(`${base}/ui/transactions/${ids.hostile}`);
    await expect
      .poll(() => page.locator("#branches").innerText(), { timeout: 10_000 })
      .toContain(HOSTILE_REASON);
    expect(await page.locator("#events").innerText()).toContain(HOSTILE_REASON);
    expect(await page.locator("main img, main script").count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as { __pwned?: number }).__pwned)).toBeUndefined();
  });

  it("with an admin key aborts a pending transaction, and the page shows it aborted", async () => {
    await page.getByRole("button", { name: "Forget key" }).click();
    await useKey(ADMIN);
    await page.goto(`${base}/ui/transactions/${ids.pending}`);
    const abort = page.locator("#abort-button");
    await expect.poll(() => abort.isEnabled(), { timeout: 10_000 }).toBe(true);
    expect(await page.locator("#tx-id").innerText()).toBe(ids.pending);
    expect(await page.locator("#transaction .badge").first().innerText()).toBe("pending");
    page.once("dialog", (dialog) => void dialog.accept());
    await abort.click();
    await expect.poll(() => page.locator("#action-result").innerText()).toContain("Aborted: now aborted");
    expect(await page.locator("#transaction .badge").first().innerText()).toBe("aborted");
    expect(await abort.isDisabled()).toBe(true);
    const view = await eventually(async () => {
      const res = await call("GET", `/v1/transactions/${ids.pending}`, undefined, CLIENT);
      return res.body.status === "aborted" ? res.body : undefined;
    });
    expect(view.reason).toBe("aborted_by_operator");
  });

  it("lists built-in and registered participants with their URL and health", async () => {
    await page.goto(`${base}/ui/participants`);
    await expect.poll(() => page.locator("#registered tr").count(), { timeout: 10_000 }).toBe(2);
    expect(await page.locator("#registered").innerText()).toContain(picky.url);
    const builtIn = await page.locator("#built-in").innerText();
    expect(builtIn).toContain("bank-1");
    expect(builtIn).toContain("bank-2");
    // Health from the metrics: a bank with nothing in doubt or dead-lettered is ok; picky refused
    // (a business answer, not a failure); sleepy's PREPAREs failed (503), so it needs attention (its ROLLBACK went through).
    const health = (name: string) => page.locator(`td.health[data-participant="${name}"]`).innerText();
    await expect.poll(() => health("bank-1"), { timeout: 10_000 }).toContain("in doubt 0 · dead letters 0");
    expect(await health("bank-1")).toMatch(/^ok/);
    await expect.poll(() => health("picky")).toMatch(/^ok calls ok 0 · refused [1-9]\d* · failed 0$/);
    await expect.poll(() => health("sleepy")).toMatch(/^attention calls ok \d+ · refused 0 · failed [1-9]/);
    expect(await page.locator("#http-dead-letters").innerText()).toContain("dispatcher's queue): 0");
  });

  it("shows the metrics at a glance: counts by protocol and outcome, percentiles, gauges, abort reasons", async () => {
    await page.goto(`${base}/ui/metrics`);
    const byProtocol = page.locator("#transactions-by-protocol tbody tr");
    await expect.poll(() => byProtocol.count(), { timeout: 10_000 }).toBe(2);
    // Begun: three 2PC (committed, refused, aborted by the operator) and three sagas.
    const cells = async (row: number) =>
      (await byProtocol.nth(row).locator("td").allInnerTexts()).slice(0, 2);
    expect(await cells(0)).toEqual(["2pc", "3"]);
    expect(await cells(1)).toEqual(["saga", "3"]);
    expect(await page.locator("#latency").innerText()).toMatch(/≤ [\d.]+ s/);
    expect(await page.locator("#abort-reasons").innerText()).toContain("aborted_by_operator");
    expect(await page.locator("#in-flight .tile-value").innerText()).toMatch(/^\d+$/);
    expect(await page.locator("#dead-letters .tile-value").innerText()).toBe("0");
    expect(await page.locator("#trouble").innerText()).toContain("failed calls to HTTP participants");
  });

  it("filters the list by protocol, or says plainly that the API does not", async () => {
    await page.goto(`${base}/ui`);
    await expect
      .poll(() => page.locator("#transactions tr").count(), { timeout: 10_000 })
      .toBeGreaterThanOrEqual(6);
    await page.locator("#protocol-filter").selectOption("saga");
    await expect.poll(() => new URL(page.url()).searchParams.get("protocol")).toBe("saga");
    // Either every row is a saga (the API filters), or the page says the list is not filtered by it.
    await expect
      .poll(
        async () => {
          const note = await page.locator("#list-note").innerText();
          const protocols = await page.locator("#transactions tr td:nth-child(2)").allInnerTexts();
          return (
            note.includes("does not filter by protocol") ||
            (protocols.length === 3 && protocols.every((p) => p === "saga"))
          );
        },
        { timeout: 10_000 },
      )
      .toBe(true);
    await page.locator("#protocol-filter").selectOption("");
    await expect.poll(() => page.locator("#list-note").innerText()).not.toContain("does not filter");
  });

  it("renders the list for the README's screenshot, with no script errors on any page", async () => {
    await page.goto(`${base}/ui`);
    await expect
      .poll(() => page.locator("#transactions tr").count(), { timeout: 10_000 })
      .toBeGreaterThanOrEqual(6);
    const shot = process.env.CONCORD_UPDATE_SCREENSHOT === "1" ? SCREENSHOT : join(profile, "dashboard.png");
    await page.screenshot({ path: shot });
    expect(existsSync(shot)).toBe(true);
    expect(await page.evaluate(() => (globalThis as { __pwned?: number }).__pwned)).toBeUndefined();
    expect(pageErrors).toEqual([]);
  });
});
