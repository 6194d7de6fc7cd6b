/**
 * `concord dlq …`: the dead-letter queues, straight at SQS (the API has no
 * route for them): count, read, and move messages back to their queue.
 */
import type { Command } from "commander";
import { createAwsClients, destroyAwsClients } from "../adapters/aws-clients.ts";
import { intArg, usageErrorsExit } from "../cli-args.ts";
import type { Config } from "../config.ts";
import { EXIT, type ExitCode, printJson, reportError, shortTime, table, UsageError } from "./cli-output.ts";
import {
  findQueue,
  lookAtDeadLetters,
  peekDeadLetters,
  type QueuePair,
  queueNames,
  redriveDeadLetters,
} from "./dead-letters.ts";

export interface DlqCommandDeps {
  /** The configuration with the endpoints of the stack to look at. */
  readonly stackConfig: () => Config;
}

type Clients = ReturnType<typeof createAwsClients>;

function run<A extends unknown[]>(
  deps: DlqCommandDeps,
  work: (config: Config, clients: Clients, ...args: A) => Promise<ExitCode | undefined>,
) {
  return async (...args: A) => {
    const opts = args[args.length - 2] as { json?: boolean };
    let clients: Clients | undefined;
    try {
      const config = deps.stackConfig();
      clients = createAwsClients(config);
      process.exitCode = (await work(config, clients, ...args)) ?? EXIT.ok;
    } catch (err) {
      process.exitCode = reportError(err, opts.json ? { json: true } : {});
    } finally {
      if (clients) destroyAwsClients(clients);
    }
  };
}

function queueOf(config: Config, named: string): QueuePair {
  const queue = findQueue(config.topology, named);
  if (!queue)
    throw new UsageError(`no queue ${named}; the queues are ${queueNames(config.topology).join(", ")}`);
  return queue;
}

export function addDlqCommands(program: Command, deps: DlqCommandDeps): Command {
  const dlq = program
    .command("dlq")
    .description(
      "the dead-letter queues at AWS_ENDPOINT_URL_SQS, else of the local stack: list, peek, redrive (--help on each)",
    );
  usageErrorsExit(dlq, EXIT.usage);

  dlq
    .command("list", { isDefault: true })
    .description("count the messages in every dead-letter queue (the default: `dlq` alone lists)")
    .option("--peek <n>", "print up to n message bodies per queue (1-10)", intArg(1, 10))
    .option("--json", "print JSON")
    .action(
      run(deps, async (config, clients, opts: { peek?: number; json?: boolean }) => {
        const looks = await lookAtDeadLetters(clients.sqs, config.topology, opts.peek ?? 0);
        if (opts.json) {
          printJson(looks);
          return EXIT.ok;
        }
        for (const look of looks) {
          console.log(`${look.queue}\t${look.count} messages`);
          for (const m of look.messages) console.log(`  ${m.id}  ${m.body}`);
        }
        return EXIT.ok;
      }),
    );

  dlq
    .command("peek")
    .description("show the messages waiting in one dead-letter queue, leaving them there")
    .argument("<queue>", "a queue: coordinator, dispatcher, a participant (bank-1), or its -dlq name")
    .option("-n, --count <n>", "at most this many messages (1-100)", intArg(1, 100), 10)
    .option("--json", "print JSON")
    .action(
      run(deps, async (config, clients, named: string, opts: { count: number; json?: boolean }) => {
        const queue = queueOf(config, named);
        const messages = await peekDeadLetters(clients.sqs, queue, opts.count);
        if (opts.json) {
          printJson({ queue: queue.deadLetter, messages });
          return EXIT.ok;
        }
        console.log(`${queue.deadLetter}: ${messages.length === 0 ? "empty" : `${messages.length} shown`}`);
        if (messages.length > 0) {
          console.log(
            table(
              ["message", "sent", "receives", "body"],
              messages.map((m) => [m.id, shortTime(m.sentAt), String(m.receiveCount ?? ""), m.body]),
            ),
          );
        }
        return EXIT.ok;
      }),
    );

  dlq
    .command("redrive")
    .description(
      "move the messages of one dead-letter queue back to its queue, to be handled again (fix the cause first). Each is sent before it is deleted: interrupted, a message may be in both queues, never in neither, and handling it twice changes nothing",
    )
    .argument("<queue>", "a queue: coordinator, dispatcher, a participant (bank-1), or its -dlq name")
    .option("--limit <n>", "move at most n messages (default: as many as wait now)", intArg(1))
    .option("--json", "print JSON")
    .action(
      run(deps, async (config, clients, named: string, opts: { limit?: number; json?: boolean }) => {
        const queue = queueOf(config, named);
        const result = await redriveDeadLetters(
          clients.sqs,
          queue,
          opts.limit !== undefined ? { limit: opts.limit } : {},
        );
        if (opts.json) printJson({ queue: queue.deadLetter, to: queue.source, ...result });
        else
          console.log(
            `moved ${result.moved} messages from ${queue.deadLetter} to ${queue.source}; ${result.left} left`,
          );
        return EXIT.ok;
      }),
    );

  return dlq;
}
