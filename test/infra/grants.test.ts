/**
 * The stack grants DynamoDB and SQS actions from fixed lists (least privilege).
 * This reads the code that runs in Lambda (every project file that puts bytes into
 * a function bundle, as esbuild reports it) and checks that every AWS operation it
 * calls is in those lists, so a new call cannot pass every local test and then fail
 * with AccessDenied on AWS. Code that never ships (the local runtime, the chaos run,
 * the simulation) is left out because no bundle holds it.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TABLE_ACTIONS } from "../../infra/cdk/permissions.ts";
import { bundleFunctions } from "../../scripts/bundle.ts";

const ROOT = join(import.meta.dirname, "../..");
const outdir = mkdtempSync(join(tmpdir(), "concord-grants-"));
let shipped: string[] = [];

beforeAll(async () => {
  const bundles = await bundleFunctions({ outdir, sourcemap: false });
  const files = new Set<string>();
  for (const bundle of bundles)
    for (const output of Object.values(bundle.metafile.outputs))
      for (const [path, input] of Object.entries(output.inputs))
        if (input.bytesInOutput > 0 && /^(src|functions)\//.test(path)) files.add(path);
  shipped = [...files].sort();
}, 60_000);

afterAll(() => rmSync(outdir, { recursive: true, force: true }));

/** `new XCommand(` in shipped files that import the given packages. */
function commandsFrom(packages: RegExp): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const file of shipped) {
    const text = readFileSync(join(ROOT, file), "utf8");
    if (!packages.test(text)) continue;
    for (const [, command] of text.matchAll(/new (\w+)Command\(/g)) {
      found.set(command as string, [...(found.get(command as string) ?? []), file]);
    }
  }
  return found;
}

/** lib-dynamodb's document commands → the IAM actions they need. */
const DOCUMENT_COMMANDS: Record<string, string[]> = {
  Get: ["GetItem"],
  Put: ["PutItem"],
  Update: ["UpdateItem"],
  Delete: ["DeleteItem"],
  Query: ["Query"],
  Scan: ["Scan"],
  BatchGet: ["BatchGetItem"],
  BatchWrite: ["BatchWriteItem"],
  TransactGet: ["GetItem"],
  // Authorized per item: whichever of these its items are.
  TransactWrite: ["PutItem", "UpdateItem", "DeleteItem", "ConditionCheckItem"],
};

/** What grantSendMessages and an SQS event source give a function. */
const SQS_ACTIONS = ["SendMessage", "GetQueueUrl", "GetQueueAttributes"];
/** IAM authorises a batch send as sqs:SendMessage (there is no SendMessageBatch action). */
const SQS_COMMAND_ACTIONS: Readonly<Record<string, string>> = { SendMessageBatch: "SendMessage" };

describe("the actions the stack grants cover what the handlers call", () => {
  it("reads the handlers' own code and nothing that never ships", () => {
    expect(shipped).toContain("src/coordinator/advance.ts");
    expect(shipped).toContain("src/participants/built-in.ts");
    expect(shipped).toContain("src/adapters/dynamodb-participant-store.ts");
    expect(shipped).toContain("src/participants/kinds.ts");
    expect(shipped.filter((f) => /^src\/(local|chaos|sim)\//.test(f))).toEqual([]);
  });

  it("every DynamoDB operation", () => {
    const commands = commandsFrom(/from "@aws-sdk\/(lib|client)-dynamodb"/);
    expect(commands.size).toBeGreaterThan(0);
    for (const [command, files] of commands) {
      const actions = DOCUMENT_COMMANDS[command] ?? [command];
      for (const action of actions) {
        expect(TABLE_ACTIONS, `${command} in ${files.join(", ")} needs dynamodb:${action}`).toContain(
          `dynamodb:${action}`,
        );
      }
    }
  });

  it("every SQS operation", () => {
    const commands = commandsFrom(/from "@aws-sdk\/client-sqs"/);
    expect(commands.size).toBeGreaterThan(0);
    for (const [command, files] of commands) {
      const action = SQS_COMMAND_ACTIONS[command] ?? command;
      expect(SQS_ACTIONS, `${command} in ${files.join(", ")} is not granted by the stack`).toContain(action);
    }
  });
});
