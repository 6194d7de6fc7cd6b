import type { DecisionSignal } from "../coordinator/decision-signal.ts";
import type { TxRecord } from "../core/transaction.ts";
import { statusOf } from "../core/view.ts";
import type { TransactionStore } from "../ports/transaction-store.ts";
import { sleep } from "../timers.ts";

// Without a local coordinator the record is polled, quickly at first. With one,
// its signal wakes the waiter, and the slow poll only guards against a miss.
const FAST_POLL_CAP_MS = 100;
const SIGNALLED_POLL_MS = 1_000;

/**
 * Waits until the outcome is known or `waitMs` has passed. The record is the
 * truth; the API stays stateless and works the same in one process and on Lambda.
 */
export async function waitForOutcome(
  store: TransactionStore,
  tx: TxRecord,
  waitMs: number,
  signal?: DecisionSignal,
): Promise<TxRecord> {
  const until = Date.now() + waitMs;
  let current = tx;
  let pause = 5;
  while (statusOf(current.state) === "pending") {
    const left = until - Date.now();
    if (left <= 0) break;
    if (signal?.active) {
      const decided = await signal.next(tx.id, Math.min(SIGNALLED_POLL_MS, left));
      current = decided ?? (await store.get(tx.id)) ?? current;
      continue;
    }
    await sleep(Math.min(pause, left));
    pause = Math.min(pause * 2, FAST_POLL_CAP_MS);
    current = (await store.get(tx.id)) ?? current;
  }
  return current;
}
