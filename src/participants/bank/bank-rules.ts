/**
 * The bank's business rules, pure: given the branches a transaction asks of one
 * bank server and the accounts as they are, decide the vote and the effects.
 */
import * as z from "zod";

export const ACCOUNT_ID = /^[A-Za-z0-9_.:-]{1,128}$/;
export const accountId = z
  .string()
  .regex(ACCOUNT_ID, "account ids are 1-128 characters of A-Z a-z 0-9 _ . : -");
export const amount = z
  .number()
  .int("amount must be an integer (minor units)")
  .positive("amount must be positive")
  .max(Number.MAX_SAFE_INTEGER, "amount must be a safe integer");
const expectedVersion = z.number().int().nonnegative().optional();

export const bankActions = {
  deposit: z.strictObject({ account: accountId, amount, expectedVersion }),
  withdraw: z.strictObject({ account: accountId, amount, expectedVersion }),
  transfer: z
    .strictObject({ account: accountId, to_account: accountId, amount, expectedVersion })
    .refine((t) => t.account !== t.to_account, { message: "to_account must differ from account" }),
} as const;

export type BankAction = keyof typeof bankActions;
export const BANK_ACTIONS = Object.keys(bankActions) as BankAction[];
export const isBankAction = (action: string): action is BankAction => Object.hasOwn(bankActions, action);

/** A DynamoDB TransactWriteItems holds at most 100 items: one is the barrier. */
export const MAX_ACCOUNTS_PER_PREPARE = 99;

export interface Account {
  readonly account: string;
  readonly balance: number;
  readonly version: number;
  readonly lockedBy?: string;
  /** When the lock holder's transaction started: its age for wait-die. */
  readonly lockedByStartedAt?: number;
}

export interface BankBranch {
  readonly index: number;
  readonly action: string;
  readonly input: unknown;
}

/** The net change to one account, valid only while the account is at `version`. */
export interface AccountEffect {
  readonly account: string;
  readonly delta: number;
  readonly version: number;
}

export const BANK_NO_REASONS = [
  "invalid_input",
  "unknown_account",
  "insufficient_funds",
  "version_conflict",
  "lock_conflict",
  "balance_overflow",
  "too_many_accounts",
] as const;
export type BankNoReason = (typeof BANK_NO_REASONS)[number];

export type PreparePlan =
  | { readonly vote: "yes"; readonly effects: readonly AccountEffect[] }
  | {
      readonly vote: "no";
      readonly reason: BankNoReason;
      readonly failedBranch: number;
      /** The transaction holding the lock, and when it started, for lock conflicts. */
      readonly holder?: string;
      readonly holderStartedAt?: number;
    };

interface Movement {
  readonly account: string;
  readonly delta: number;
}

type ParsedBranch = { ok: true; movements: Movement[]; expected?: number } | { ok: false };

const withExpected = (movements: Movement[], expected: number | undefined): ParsedBranch =>
  expected === undefined ? { ok: true, movements } : { ok: true, movements, expected };

export function parseBranch(branch: BankBranch): ParsedBranch {
  switch (branch.action) {
    case "deposit":
    case "withdraw": {
      const parsed = bankActions[branch.action].safeParse(branch.input);
      if (!parsed.success) return { ok: false };
      const { account, amount, expectedVersion } = parsed.data;
      const delta = branch.action === "deposit" ? amount : -amount;
      return withExpected([{ account, delta }], expectedVersion);
    }
    case "transfer": {
      const parsed = bankActions.transfer.safeParse(branch.input);
      if (!parsed.success) return { ok: false };
      const { account, to_account, amount, expectedVersion } = parsed.data;
      return withExpected(
        [
          { account, delta: -amount },
          { account: to_account, delta: amount },
        ],
        expectedVersion,
      );
    }
    default:
      return { ok: false };
  }
}

/** Every account a set of branches touches, in first-use order; invalid branches are skipped. */
export function accountsTouched(branches: readonly BankBranch[]): string[] {
  const seen = new Set<string>();
  for (const b of branches) {
    const parsed = parseBranch(b);
    if (parsed.ok) for (const m of parsed.movements) seen.add(m.account);
  }
  return [...seen];
}

/**
 * Applies the branches in order against the accounts as read. A withdrawal must
 * be covered at its point in the sequence, so a withdraw-then-deposit on one
 * account is judged as a client would read it.
 */
export function planPrepare(
  branches: readonly BankBranch[],
  accounts: ReadonlyMap<string, Account>,
  txId: string,
): PreparePlan {
  const balances = new Map<string, number>();
  const order: string[] = [];
  for (const branch of branches) {
    const parsed = parseBranch(branch);
    const no = (reason: BankNoReason, holder?: Account): PreparePlan => ({
      vote: "no",
      reason,
      failedBranch: branch.index,
      ...(holder?.lockedBy !== undefined ? { holder: holder.lockedBy } : {}),
      ...(holder?.lockedByStartedAt !== undefined ? { holderStartedAt: holder.lockedByStartedAt } : {}),
    });
    if (!parsed.ok) return no("invalid_input");
    for (const { account: id, delta } of parsed.movements) {
      const account = accounts.get(id);
      if (!account) return no("unknown_account");
      if (account.lockedBy !== undefined && account.lockedBy !== txId) return no("lock_conflict", account);
      // expectedVersion pins the first account a branch names (the one it debits or credits).
      if (
        parsed.expected !== undefined &&
        id === parsed.movements[0]?.account &&
        account.version !== parsed.expected
      ) {
        return no("version_conflict");
      }
      if (!balances.has(id)) {
        balances.set(id, account.balance);
        order.push(id);
      }
      const next = (balances.get(id) ?? 0) + delta;
      if (next < 0) return no("insufficient_funds");
      if (next > Number.MAX_SAFE_INTEGER) return no("balance_overflow");
      balances.set(id, next);
    }
  }
  if (order.length > MAX_ACCOUNTS_PER_PREPARE) {
    return { vote: "no", reason: "too_many_accounts", failedBranch: branches[0]?.index ?? 0 };
  }
  return {
    vote: "yes",
    effects: order.map((id) => {
      const account = accounts.get(id) as Account;
      return { account: id, delta: (balances.get(id) ?? 0) - account.balance, version: account.version };
    }),
  };
}
