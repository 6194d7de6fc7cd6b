/**
 * The bank's business rules, pure: the account resource model the participant
 * kit runs (deposit, withdraw, transfer, usable in 2PC branches and as saga
 * actions or compensations), and the same rules read in bank terms (the vote
 * and the net change per account).
 */
import * as z from "zod";
import { planGroup } from "../../participant-kit/planning.ts";
import {
  defineModel,
  MAX_RESOURCES_PER_WRITE,
  RESOURCE_ID,
  type Resource,
  type ResourceView,
} from "../../participant-kit/resource-model.ts";
import { moveQuantities, nonNegative } from "../quantity.ts";

export const ACCOUNT_ID = RESOURCE_ID;
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

export const MAX_ACCOUNTS_PER_PREPARE = MAX_RESOURCES_PER_WRITE;

export const accountState = z.object({ balance: nonNegative });
export type AccountState = z.infer<typeof accountState>;

export const BANK_NO_REASONS = [
  "invalid_input",
  "unknown_account",
  "insufficient_funds",
  "version_conflict",
  "lock_conflict",
  "balance_overflow",
  "too_many_resources",
] as const;
export type BankNoReason = (typeof BANK_NO_REASONS)[number];

/** The bank's words for the shared quantity rule (quantity.ts). */
const BANK_REASONS = {
  unknown: "unknown_account",
  insufficient: "insufficient_funds",
  overflow: "balance_overflow",
} as const;

interface Movement {
  readonly account: string;
  readonly delta: number;
}

/**
 * Moves money on the accounts named, in order. `expectedVersion` pins the first
 * account a branch names (the one it debits or credits), at its version as read.
 */
const move = (
  movements: readonly Movement[],
  expected: number | undefined,
  accounts: ResourceView<AccountState>,
) =>
  moveQuantities(
    "balance",
    BANK_REASONS,
    movements.map(({ account, delta }) => ({ id: account, delta })),
    accounts,
    expected,
  );

/** A branch that pins a version must see the account stable: it locks instead of reserving. */
const pinned = (i: { readonly expectedVersion?: number | undefined }) => i.expectedVersion !== undefined;

export const bankModel = defineModel({
  kind: "account",
  state: accountState,
  // Balances only move by deposit, withdraw and transfer: prepares reserve, never lock.
  quantities: { balance: { insufficient: BANK_REASONS.insufficient, overflow: BANK_REASONS.overflow } },
  actions: (action) => ({
    deposit: action({
      input: bankActions.deposit,
      touches: (i) => [i.account],
      stable: (i) => pinned(i),
      apply: (i, accounts) => move([{ account: i.account, delta: i.amount }], i.expectedVersion, accounts),
    }),
    withdraw: action({
      input: bankActions.withdraw,
      touches: (i) => [i.account],
      stable: (i) => pinned(i),
      apply: (i, accounts) => move([{ account: i.account, delta: -i.amount }], i.expectedVersion, accounts),
    }),
    transfer: action({
      input: bankActions.transfer,
      touches: (i) => [i.account, i.to_account],
      // Within one server a transfer needs no stable value: it reserves on the source
      // and records a pending credit on the target, applied together at commit.
      stable: (i) => pinned(i),
      apply: (i, accounts) =>
        move(
          [
            { account: i.account, delta: -i.amount },
            { account: i.to_account, delta: i.amount },
          ],
          i.expectedVersion,
          accounts,
        ),
    }),
  }),
});

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

export type PreparePlan =
  | { readonly vote: "yes"; readonly effects: readonly AccountEffect[] }
  | {
      readonly vote: "no";
      readonly reason: string;
      readonly failedBranch: number;
      readonly holder?: string;
      readonly holderStartedAt?: number;
    };

type ParsedBranch = { ok: true; movements: Movement[]; expected?: number } | { ok: false };

const withExpected = (movements: Movement[], expected: number | undefined): ParsedBranch =>
  expected === undefined ? { ok: true, movements } : { ok: true, movements, expected };

/** A branch's money movements, for reading transactions in bank terms (the simulation's ledger). */
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
 * The kit's plan for these branches, in bank terms: the vote, and the net
 * change per account at the version it was computed at.
 */
export function planPrepare(
  branches: readonly BankBranch[],
  accounts: ReadonlyMap<string, Account>,
  txId: string,
): PreparePlan {
  const resources = new Map<string, Resource<AccountState>>(
    [...accounts].map(([id, a]) => [
      id,
      {
        id,
        version: a.version,
        state: { balance: a.balance },
        ...(a.lockedBy !== undefined ? { lockedBy: a.lockedBy } : {}),
        ...(a.lockedByStartedAt !== undefined ? { lockedByStartedAt: a.lockedByStartedAt } : {}),
      },
    ]),
  );
  const plan = planGroup(bankModel, branches, resources, txId);
  if (plan.vote === "no") return plan;
  return {
    vote: "yes",
    effects: plan.planned.map((p) => ({
      account: p.id,
      delta:
        p.moves !== undefined
          ? (p.moves.balance ?? 0)
          : p.next === undefined
            ? 0
            : p.next.balance - (accounts.get(p.id)?.balance ?? 0),
      version: p.version,
    })),
  };
}
