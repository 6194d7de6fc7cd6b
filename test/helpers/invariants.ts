/** The invariants of design §4 that can be read from the stored state. */
import { expect } from "vitest";
import { fromItem } from "../../src/adapters/dynamodb-transaction-item.ts";
import { checkInvariants } from "../../testkit/invariants/check.ts";
import { participantItems } from "../../testkit/invariants/snapshot.ts";
import type { Stack } from "./stack.ts";

export interface BankState {
  readonly total: number;
  readonly negative: string[];
  readonly locked: string[];
  /** Accounts holding a reservation or a pending credit (balanceAvailable/balancePromised off the balance). */
  readonly held: string[];
  readonly prepared: string[];
}

export async function bankState(stack: Stack): Promise<BankState> {
  const items = await stack.scan("bank");
  const accounts = items.filter((i) => i.kind === "account");
  const barriers = items.filter((i) => i.kind === "barrier");
  return {
    total: accounts.reduce((sum, a) => sum + Number(a.balance), 0),
    negative: accounts.filter((a) => Number(a.balance) < 0).map((a) => String(a.pk)),
    locked: accounts.filter((a) => a.lockedBy !== undefined).map((a) => `${a.pk} by ${a.lockedBy}`),
    // An attribute absent reads as the balance: the item holds nothing.
    held: accounts
      .filter((a) => [a.balanceAvailable, a.balancePromised].some((v) => v !== undefined && v !== a.balance))
      .map((a) => `${a.pk}: available ${a.balanceAvailable}, promised ${a.balancePromised} of ${a.balance}`),
    prepared: barriers.filter((b) => b.state === "prepared").map((b) => String(b.pk)),
  };
}

/**
 * Atomicity and agreement: each transaction is final and its participants
 * settled their barriers the way the coordinator decided (the one checker,
 * testkit/invariants/, on the stored records and barriers alone).
 */
export async function expectAgreement(stack: Stack): Promise<void> {
  const txs = (await stack.scan("transactions")).map(fromItem);
  const { barriers, steps } = participantItems(await stack.scan("bank"));
  const violations = checkInvariants({
    records: txs,
    accounts: [],
    barriers,
    steps,
  }).filter((v) => v.invariant === "agreement" || v.invariant === "liveness");
  expect(violations).toEqual([]);
}
