import type { TransactionStore } from "../adapters/dynamodb-transaction-store.ts";
import type { TxRecord } from "../core/transaction.ts";
import { statusOf } from "../core/view.ts";

/**
 * Polls the record until its outcome is known or `waitMs` has passed. Polling
 * keeps the API stateless: it works the same in one process and on Lambda.
 */
export async function waitForOutcome(
  store: TransactionStore,
  tx: TxRecord,
  waitMs: number,
): Promise<TxRecord> {
  const until = Date.now() + waitMs;
  let current = tx;
  let pause = 5;
  while (statusOf(current.state) === "pending") {
    const left = until - Date.now();
    if (left <= 0) break;
    await new Promise((r) => setTimeout(r, Math.min(pause, left)));
    pause = Math.min(pause * 2, 100);
    current = (await store.get(tx.id)) ?? current;
  }
  return current;
}
