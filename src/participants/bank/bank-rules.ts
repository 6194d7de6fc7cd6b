/**
 * The bank's business rules, pure: the account resource model the participant
 * kit runs (deposit, withdraw, transfer, usable in 2PC branches and as saga
 * actions or compensations), and a branch read in bank terms (its money
 * movements, for the simulation's ledger).
 */
import * as z from "zod";
import { defineModel, RESOURCE_ID, type ResourceView } from "../../participant-kit/resource-model.ts";
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

const bankActions = {
  deposit: z.strictObject({ account: accountId, amount, expectedVersion }),
  withdraw: z.strictObject({ account: accountId, amount, expectedVersion }),
  transfer: z
    .strictObject({ account: accountId, to_account: accountId, amount, expectedVersion })
    .refine((t) => t.account !== t.to_account, { message: "to_account must differ from account" }),
} as const;

const accountState = z.object({ balance: nonNegative });
export type AccountState = z.infer<typeof accountState>;

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

/**
 * The balances a branch moves, known without reading (the kit's blind prepare):
 * `move` accepts exactly when each account exists and its moves fit. Not for a
 * pinned branch, which may also refuse `version_conflict`.
 */
const declared = (
  i: { readonly expectedVersion?: number | undefined },
  movements: readonly Movement[],
): Record<string, { balance: number }> | undefined =>
  pinned(i)
    ? undefined
    : Object.fromEntries(movements.map(({ account, delta }) => [account, { balance: delta }]));

/** A transfer within one server: the source debited, then the target credited (never the same account). */
const transferred = (i: {
  readonly account: string;
  readonly to_account: string;
  readonly amount: number;
}) => [
  { account: i.account, delta: -i.amount },
  { account: i.to_account, delta: i.amount },
];

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
      moves: (i) => declared(i, [{ account: i.account, delta: i.amount }]),
      apply: (i, accounts) => move([{ account: i.account, delta: i.amount }], i.expectedVersion, accounts),
    }),
    withdraw: action({
      input: bankActions.withdraw,
      touches: (i) => [i.account],
      stable: (i) => pinned(i),
      moves: (i) => declared(i, [{ account: i.account, delta: -i.amount }]),
      apply: (i, accounts) => move([{ account: i.account, delta: -i.amount }], i.expectedVersion, accounts),
    }),
    transfer: action({
      input: bankActions.transfer,
      touches: (i) => [i.account, i.to_account],
      // Within one server a transfer needs no stable value: it reserves on the source
      // and records a pending credit on the target, applied together at commit.
      stable: (i) => pinned(i),
      moves: (i) => declared(i, transferred(i)),
      apply: (i, accounts) => move(transferred(i), i.expectedVersion, accounts),
    }),
  }),
});

export interface BankBranch {
  readonly index: number;
  readonly action: string;
  readonly input: unknown;
}

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
