/**
 * The stack grants DynamoDB and SQS actions from fixed lists (least privilege).
 * This reads the code that runs in Lambda (src/, less the local runtime) and
 * checks that every AWS operation it calls is in those lists, so a new call
 * cannot pass every local test and then fail with AccessDenied on AWS.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { TABLE_ACTIONS } from "../../infra/cdk/permissions.ts";

const ROOT = join(import.meta.dirname, "../..");

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return path.endsWith(join("src", "local")) ? [] : sources(path);
    return entry.name.endsWith(".ts") ? [path] : [];
  });
}

/** `new XCommand(` in files that import the given packages. */
function commandsFrom(packages: RegExp): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const file of [...sources(join(ROOT, "src")), ...sources(join(ROOT, "functions"))]) {
    const text = readFileSync(file, "utf8");
    if (!packages.test(text)) continue;
    for (const [, command] of text.matchAll(/new (\w+)Command\(/g)) {
      found.set(command as string, [...(found.get(command as string) ?? []), relative(ROOT, file)]);
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

describe("the actions the stack grants cover what the handlers call", () => {
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
      expect(SQS_ACTIONS, `${command} in ${files.join(", ")} is not granted by the stack`).toContain(command);
    }
  });
});
