/** The invariants of design §4 that can be read from the stored state. */
import { expect } from "vitest";
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
 * Atomicity and agreement: each finished transaction's participants settled
 * their barriers the way the coordinator decided, and none contradicts it.
 */
export async function expectAgreement(stack: Stack): Promise<void> {
  const txs = await stack.scan("transactions");
  const barriers = (await stack.scan("bank")).filter((i) => i.kind === "barrier");
  const byTx = new Map<string, Record<string, unknown>[]>();
  for (const b of barriers) byTx.set(String(b.txId), [...(byTx.get(String(b.txId)) ?? []), b]);
  const violations: string[] = [];
  for (const tx of txs) {
    const states = (byTx.get(String(tx.id)) ?? []).map((b) => String(b.state));
    if (tx.state === "committed" && states.some((s) => s !== "committed")) {
      violations.push(`${tx.id} committed but barriers ${states}`);
    }
    if (tx.state === "aborted" && states.some((s) => s === "committed" || s === "prepared")) {
      violations.push(`${tx.id} aborted but barriers ${states}`);
    }
    if (tx.state !== "committed" && tx.state !== "aborted") violations.push(`${tx.id} still ${tx.state}`);
  }
  expect(violations).toEqual([]);
}
