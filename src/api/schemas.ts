/** Request shapes of the v1 HTTP contract (design §3). */
import * as z from "zod";
import { planStages } from "../core/saga.ts";
import { PROTOCOLS } from "../core/transaction.ts";
import { ACCOUNT_ID, amount } from "../participants/bank/bank-rules.ts";

export const MAX_BRANCHES = 100;
export const MAX_WAIT_MS = 30_000;
export const TX_ID = /^[A-Za-z0-9_.:-]{1,128}$/;

export const txId = z.string().regex(TX_ID, "ids are 1-128 characters of A-Z a-z 0-9 _ . : -");

const branch = z.strictObject({
  participant: z.string().min(1),
  action: z.string().min(1),
  input: z.unknown(),
  compensation: z.strictObject({ action: z.string().min(1), input: z.unknown() }).optional(),
  stage: z.number().int().nonnegative().optional(),
});

export const transactionRequest = z
  .strictObject({
    id: txId.optional(),
    protocol: z.enum(PROTOCOLS, { error: 'protocol must be "2pc" or "saga"' }),
    timeoutMs: z.number().int().positive().optional(),
    branches: z.array(branch).min(1).max(MAX_BRANCHES),
    /** Saga: stage numbers whose branches run as one 2PC group. */
    atomicStages: z.array(z.number().int().nonnegative()).max(MAX_BRANCHES).optional(),
  })
  .superRefine((body, ctx) => {
    const issue = (path: readonly (string | number)[], message: string) =>
      ctx.addIssue({ code: "custom", path: [...path], message });
    if (body.protocol === "saga") {
      const plan = planStages(body.branches, body.atomicStages ?? []);
      if (!plan.ok) for (const i of plan.issues) issue(i.path, i.message);
      return;
    }
    // Refused rather than ignored: a client that sends them expects a saga.
    body.branches.forEach((b, i) => {
      if (b.compensation !== undefined) {
        issue(["branches", i, "compensation"], "a 2PC branch takes no compensation (a rollback undoes it)");
      }
      if (b.stage !== undefined) {
        issue(["branches", i, "stage"], "a 2PC transaction has no stages (every branch prepares at once)");
      }
    });
    if (body.atomicStages !== undefined) issue(["atomicStages"], "atomicStages are for sagas");
  });

const transferOperation = z
  .strictObject({
    server_id: z.string().min(1),
    account_id: z.string().regex(ACCOUNT_ID, "account ids are 1-128 characters of A-Z a-z 0-9 _ . : -"),
    operation: z.enum(["deposit", "withdraw", "transfer"]),
    amount,
    to_account_id: z.string().regex(ACCOUNT_ID).optional(),
  })
  .superRefine((op, ctx) => {
    if (op.operation === "transfer" && op.to_account_id === undefined) {
      ctx.addIssue({ code: "custom", path: ["to_account_id"], message: "a transfer needs to_account_id" });
    }
    if (op.operation !== "transfer" && op.to_account_id !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["to_account_id"],
        message: `a ${op.operation} takes no to_account_id`,
      });
    }
    if (op.to_account_id !== undefined && op.to_account_id === op.account_id) {
      ctx.addIssue({
        code: "custom",
        path: ["to_account_id"],
        message: "to_account_id must differ from account_id",
      });
    }
  });

export const transferRequest = z.array(transferOperation).min(1).max(MAX_BRANCHES);

/** zod issues as `{path, message}` pairs for the error's details. */
export const issuesOf = (error: z.ZodError) =>
  error.issues.map((i) => ({ path: i.path.join("."), message: i.message }));
