import { EventEmitter } from "node:events";
import type { TxRecord } from "../core/transaction.ts";
import { statusOf } from "../core/view.ts";

/**
 * Tells waiters in the same process that a transaction's outcome is known, so
 * an API waiting on `?wait=` need not poll DynamoDB when the coordinator runs
 * beside it. Across processes (Lambda, separate roles) nothing fires and the
 * waiter's polling does the work; the signal is only ever a shortcut.
 */
export class DecisionSignal {
  private readonly emitter = new EventEmitter().setMaxListeners(0);
  private reporting = false;

  /** True once a coordinator in this process reports to it: a waiter may listen instead of polling. */
  get active(): boolean {
    return this.reporting;
  }

  /** What a coordinator in this process reports its writes to; from then on the signal is active. */
  reporter(): (tx: TxRecord) => void {
    this.reporting = true;
    return (tx) => this.changed(tx);
  }

  /** Called with every record the coordinator writes. */
  changed(tx: TxRecord): void {
    if (statusOf(tx.state) !== "pending") this.emitter.emit(tx.id, tx);
  }

  /** Resolves with the decided record, or undefined after `ms`. */
  next(id: string, ms: number): Promise<TxRecord | undefined> {
    return new Promise((resolve) => {
      const done = (tx?: TxRecord) => {
        clearTimeout(timer);
        this.emitter.off(id, done);
        resolve(tx);
      };
      const timer = setTimeout(done, ms);
      this.emitter.once(id, done);
    });
  }
}
