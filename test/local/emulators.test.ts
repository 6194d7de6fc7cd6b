import { readdirSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CreateTableCommand,
  GetItemCommand,
  ListTablesCommand,
  PutItemCommand,
} from "@aws-sdk/client-dynamodb";
import { describe, expect, inject, it } from "vitest";
import { javaMajorVersion } from "../../src/local/emulators/dynamodb-local.ts";
import {
  EmulatorStartError,
  startDynamoDbLocal,
  startEmulators,
  startSqsEmulator,
} from "../../src/local/emulators/index.ts";
import { isAlive, localClients } from "./fixtures.ts";

/** Local addresses of the TCP sockets listening on `port`, decoded from /proc/net/tcp{,6}. */
function listeningAddresses(port: number): string[] {
  const portHex = port.toString(16).toUpperCase().padStart(4, "0");
  const found: string[] = [];
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    for (const line of readFileSync(file, "utf8").split("\n").slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/);
      if (!local || state !== "0A") continue; // 0A = LISTEN
      const [addressHex, socketPort] = local.split(":");
      if (socketPort !== portHex || !addressHex) continue;
      found.push(decodeAddress(addressHex));
    }
  }
  return found;
}

/** /proc/net prints addresses as host-order 32-bit words. */
function decodeAddress(hex: string): string {
  const words = hex.match(/.{8}/g) ?? [];
  const bytes = words.flatMap((w) => (w.match(/../g) ?? []).reverse().map((b) => Number.parseInt(b, 16)));
  if (bytes.length === 4) return bytes.join(".");
  const isV4Mapped = bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 255 && bytes[11] === 255;
  if (isV4Mapped) return `::ffff:${bytes.slice(12).join(".")}`;
  return bytes.every((b) => b === 0) ? "::" : `ipv6:${hex}`;
}

/** Command lines of this process's live children. */
function childCommands(): string[] {
  const commands: string[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // Fields after the parenthesised command name: state, ppid, ...
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === process.pid)
        commands.push(readFileSync(`/proc/${entry}/cmdline`, "utf8").replaceAll("\0", " "));
    } catch {
      // The process ended while we looked.
    }
  }
  return commands;
}

const portOf = (endpoint: string): number => Number(new URL(endpoint).port);

function expectLoopbackOnly(port: number): void {
  const addresses = listeningAddresses(port);
  expect(addresses.length).toBeGreaterThan(0);
  for (const address of addresses) expect(["127.0.0.1", "::ffff:127.0.0.1"]).toContain(address);
}

// Starting Java takes seconds on a busy 2-core machine; the default 5 s is too tight.
describe("emulators", { timeout: 30_000 }, () => {
  it("the suite's DynamoDB Local and SQS emulator listen on 127.0.0.1 only", () => {
    const dynamodbEndpoint = inject("dynamodbEndpoint");
    const sqsEndpoint = inject("sqsEndpoint");
    expect(dynamodbEndpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(sqsEndpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expectLoopbackOnly(portOf(dynamodbEndpoint));
    expectLoopbackOnly(portOf(sqsEndpoint));
  });

  it("stop() leaves no process of either emulator's group alive", async () => {
    const [dynamodb, sqs] = await Promise.all([startDynamoDbLocal(), startSqsEmulator()]);
    for (const { pid } of [dynamodb, sqs]) {
      expect(isAlive(pid)).toBe(true);
      expect(isAlive(-pid)).toBe(true); // its own process group
      expect(pid).not.toBe(process.pid);
    }
    await Promise.all([dynamodb.stop(), sqs.stop()]);
    for (const { pid } of [dynamodb, sqs]) {
      expect(isAlive(pid)).toBe(false);
      expect(isAlive(-pid)).toBe(false);
    }
    await dynamodb.stop(); // a second stop is harmless
  });

  it("DynamoDB Local keeps tables and items in dataDir across a restart", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "concord-ddb-"));
    try {
      const first = await startDynamoDbLocal({ dataDir });
      expectLoopbackOnly(first.port);
      const a = localClients({ dynamodb: first.endpoint });
      await a.dynamodb.send(
        new CreateTableCommand({
          TableName: "kept",
          BillingMode: "PAY_PER_REQUEST",
          KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }],
          AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }],
        }),
      );
      await a.dynamodb.send(
        new PutItemCommand({ TableName: "kept", Item: { pk: { S: "k1" }, v: { N: "42" } } }),
      );
      a.dynamodb.destroy();
      await first.stop();

      const second = await startDynamoDbLocal({ dataDir });
      try {
        const b = localClients({ dynamodb: second.endpoint });
        const tables = await b.dynamodb.send(new ListTablesCommand({}));
        expect(tables.TableNames).toContain("kept");
        const item = await b.dynamodb.send(
          new GetItemCommand({ TableName: "kept", Key: { pk: { S: "k1" } } }),
        );
        expect(item.Item?.v).toEqual({ N: "42" });
        b.dynamodb.destroy();
      } finally {
        await second.stop();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it("a taken port fails with an error that shows the emulator's own message", async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    const address = blocker.address();
    const port = typeof address === "object" && address ? address.port : 0;
    try {
      const attempt = startSqsEmulator({ port });
      await expect(attempt).rejects.toBeInstanceOf(EmulatorStartError);
      await expect(attempt).rejects.toThrow(/EADDRINUSE/);
    } finally {
      blocker.close();
    }
  });

  it("if one emulator fails to start, startEmulators stops the other", async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    const address = blocker.address();
    const sqsPort = typeof address === "object" && address ? address.port : 0;
    try {
      await expect(startEmulators({ sqsPort })).rejects.toThrow(/SQS emulator.*EADDRINUSE/s);
      expect(childCommands().filter((c) => c.includes("LoopbackDynamoDb"))).toEqual([]);
    } finally {
      blocker.close();
    }
  });

  it("a missing java gives a clear error", async () => {
    await expect(startDynamoDbLocal({ java: "/nonexistent/bin/java" })).rejects.toThrow(
      /needs Java 17\+, but "\/nonexistent\/bin\/java" was not found/,
    );
  });

  it.each([
    ['openjdk version "17.0.15" 2025-04-15', 17],
    ['openjdk version "21" 2023-09-19', 21],
    ['java version "1.8.0_402"', 8],
    ["garbage", undefined],
  ])("reads the Java major version from %j", (text, major) => {
    expect(javaMajorVersion(text)).toBe(major);
  });
});
