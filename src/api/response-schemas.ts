/**
 * What the API answers (design §3) as schemas, for the OpenAPI document. Strict
 * objects: a field a view gains without its schema fails the test that checks
 * real answers against these (test/integration/api-reference.test.ts).
 */
import * as z from "zod";
import { EVENT_TYPES, PROTOCOLS, SAGA_STATES, TWO_PC_STATES } from "../core/transaction.ts";
import { STATUSES } from "../core/view.ts";
import { ERROR_CODES } from "./errors.ts";

const BRANCH_STATES = [
  "pending",
  "prepared",
  "refused",
  "committing",
  "committed",
  "aborting",
  "rolled_back",
  "running",
  "done",
  "failed",
  "compensating",
  "compensated",
] as const;
const PHASES = [...new Set([...TWO_PC_STATES, ...SAGA_STATES])] as [string, ...string[]];

const timestamp = z.iso.datetime();

export const errorBody = z.strictObject({
  error: z.strictObject({
    code: z.enum(ERROR_CODES),
    message: z.string(),
    details: z.unknown().optional().meta({
      description:
        "For invalid input, a list of `{path, message}`; for a conflict, what is in the way; for 413, `{limit, size}`.",
    }),
  }),
});

export const branchView = z.strictObject({
  participant: z.string(),
  action: z.string(),
  state: z.enum(BRANCH_STATES),
  vote: z.enum(["yes", "no"]).optional(),
  reason: z.string().optional(),
  stage: z.number().int().optional().meta({ description: "Saga: the branch's stage number." }),
  atomic: z.literal(true).optional().meta({ description: "Saga: the stage runs as a 2PC group." }),
  attempts: z.number().int().optional().meta({ description: "Saga: re-sends of the branch's message." }),
});

export const eventView = z
  .looseObject({ at: timestamp, type: z.enum(EVENT_TYPES) })
  .meta({ description: "One event of the transaction's history; more fields by type." });

export const transactionView = z.strictObject({
  id: z.string(),
  protocol: z.enum(PROTOCOLS),
  status: z.enum(STATUSES),
  phase: z.enum(PHASES),
  reason: z.string().optional(),
  createdAt: timestamp,
  deadline: timestamp,
  decidedAt: timestamp.optional(),
  completedAt: timestamp.optional(),
  attempts: z.number().int().meta({ description: "Re-sends by the sweeper in the current phase." }),
  branches: z.array(branchView),
  events: z.array(eventView),
  eventsDropped: z.number().int().optional(),
});

export const transactionPage = z.strictObject({
  transactions: z.array(transactionView),
  nextCursor: z.string().optional().meta({ description: "Absent on the last page." }),
});

export const registeredParticipant = z.strictObject({
  name: z.string(),
  baseUrl: z.string(),
  protocols: z.array(z.enum(PROTOCOLS)),
  createdAt: timestamp,
  version: z.number().int(),
});

export const participantPage = z.strictObject({
  participants: z.array(registeredParticipant),
  nextCursor: z.string().optional(),
});

/**
 * A built-in participant's resource: the owner (bank server) when the kind has
 * many, the id under its noun, its state's fields, its version and, while a
 * transaction holds it, `lockedBy`. Loose: each kind adds its own fields.
 */
export const resourceView = z.looseObject({
  version: z.number().int(),
  lockedBy: z.string().optional().meta({ description: "The transaction that holds it now." }),
  reserved: z
    .union([z.number().int(), z.record(z.string(), z.number().int())])
    .optional()
    .meta({ description: "Held by prepared debits (escrow), where the kind has a quantity." }),
  pending: z
    .union([z.number().int(), z.record(z.string(), z.number().int())])
    .optional()
    .meta({ description: "Prepared credits not yet applied, where the kind has a quantity." }),
});

export const health = z.strictObject({ status: z.literal("ok") });

const CHECKS = ["dynamodb", "sqs"] as const;
export type Check = (typeof CHECKS)[number];
export const readiness = z.strictObject({
  status: z.enum(["ready", "unavailable"]),
  failing: z.array(z.enum(CHECKS)).meta({ description: "The dependencies that did not answer in time." }),
});

export const session = z.strictObject({ auth: z.boolean(), role: z.enum(["client", "admin"]) });
export const builtInParticipants = z.strictObject({
  participants: z.array(
    z.strictObject({
      name: z.string(),
      kind: z.string(),
      actions: z.array(z.string()),
      deadLetterQueue: z.string().describe("The logical name of this participant's dead-letter queue"),
    }),
  ),
  httpDeadLetterQueue: z.string().describe("The dead-letter queue every HTTP participant's messages share"),
});
