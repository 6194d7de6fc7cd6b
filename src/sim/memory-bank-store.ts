/**
 * An in-memory BankStore with the DynamoDB adapter's conditional semantics:
 * each method checks every precondition first and then applies all of its
 * writes, or none (as one TransactWriteItems would), raising the same named
 * errors. It passes the same contract suite as the DynamoDB store.
 */
import { accountKey, barrierKey } from "../adapters/dynamodb-bank-store.ts";
import {
  AccountLockedError,
  type BankStore,
  type Barrier,
  BarrierConflictError,
  type StoredAccount,
} from "../participants/bank/bank-store.ts";

/** A barrier as stored: `preparedAt` is set while it sits in the prepared index. */
interface StoredBarrier {
  readonly barrier: Barrier;
  readonly preparedAt?: number;
}

export interface MemoryBankStore extends BankStore {
  /** Every account and barrier, for invariant checks. */
  accounts(): StoredAccount[];
  barriers(): Barrier[];
}

const copyAccount = (a: StoredAccount): StoredAccount => ({ ...a });

function unlocked(a: StoredAccount): StoredAccount {
  const { lockedBy: _b, lockedAt: _a, lockedByStartedAt: _s, ...rest } = a;
  return rest;
}

export function createMemoryBankStore(): MemoryBankStore {
  const accounts = new Map<string, StoredAccount>();
  const barriers = new Map<string, StoredBarrier>();

  /** The barrier must exist and be `prepared`, and every effect's account locked by it. */
  function checkDecision(barrier: Barrier): void {
    const stored = barriers.get(barrierKey(barrier.server, barrier.txId));
    if (stored?.barrier.state !== "prepared") throw new BarrierConflictError(barrier.txId, true);
    for (const e of barrier.effects) {
      const account = accounts.get(accountKey(barrier.server, e.account));
      if (account?.lockedBy !== barrier.txId) throw new BarrierConflictError(barrier.txId, false);
    }
  }

  function settle(barrier: Barrier, state: "committed" | "rolled_back", now: number): void {
    const key = barrierKey(barrier.server, barrier.txId);
    const stored = barriers.get(key) as StoredBarrier;
    barriers.set(key, { barrier: { ...stored.barrier, state, decidedAt: now } });
  }

  function insertBarrier(barrier: Barrier): void {
    const key = barrierKey(barrier.server, barrier.txId);
    if (barriers.has(key)) throw new BarrierConflictError(barrier.txId, true);
    barriers.set(key, { barrier: { ...barrier } });
  }

  return {
    async getBarrier(server, txId) {
      const stored = barriers.get(barrierKey(server, txId));
      return stored ? { ...stored.barrier } : undefined;
    },

    async getAccount(server, id) {
      const a = accounts.get(accountKey(server, id));
      return a ? copyAccount(a) : undefined;
    },

    async loadForPrepare(server, txId, ids) {
      const stored = barriers.get(barrierKey(server, txId));
      const found = new Map<string, StoredAccount>();
      for (const id of ids) {
        const a = accounts.get(accountKey(server, id));
        if (a) found.set(id, copyAccount(a));
      }
      return { ...(stored ? { barrier: { ...stored.barrier } } : {}), accounts: found };
    },

    async prepare(barrier, now) {
      const key = barrierKey(barrier.server, barrier.txId);
      const barrierExists = barriers.has(key);
      const accountsOk = barrier.effects.every((e) => {
        const a = accounts.get(accountKey(barrier.server, e.account));
        return a !== undefined && a.version === e.version && a.lockedBy === undefined;
      });
      if (barrierExists || !accountsOk) throw new BarrierConflictError(barrier.txId, barrierExists);
      barriers.set(key, { barrier: { ...barrier }, preparedAt: now });
      for (const e of barrier.effects) {
        const k = accountKey(barrier.server, e.account);
        const a = accounts.get(k) as StoredAccount;
        accounts.set(k, {
          ...a,
          lockedBy: barrier.txId,
          lockedAt: now,
          lockedByStartedAt: barrier.txStartedAt ?? now,
        });
      }
    },

    async refuse(barrier) {
      insertBarrier(barrier);
    },

    async commit(barrier, now) {
      checkDecision(barrier);
      settle(barrier, "committed", now);
      for (const e of barrier.effects) {
        const k = accountKey(barrier.server, e.account);
        const a = accounts.get(k) as StoredAccount;
        accounts.set(k, { ...unlocked(a), balance: a.balance + e.delta, version: a.version + 1 });
      }
    },

    async rollback(barrier, now) {
      checkDecision(barrier);
      settle(barrier, "rolled_back", now);
      for (const e of barrier.effects) {
        const k = accountKey(barrier.server, e.account);
        accounts.set(k, unlocked(accounts.get(k) as StoredAccount));
      }
    },

    async rollbackUnprepared(server, txId, now) {
      insertBarrier({ server, txId, state: "rolled_back", effects: [], createdAt: now, decidedAt: now });
    },

    async preparedBefore(server, before, limit) {
      const found: Barrier[] = [];
      for (const { barrier, preparedAt } of barriers.values()) {
        if (found.length >= limit) break;
        if (
          barrier.server === server &&
          barrier.state === "prepared" &&
          preparedAt !== undefined &&
          preparedAt < before
        ) {
          found.push({ ...barrier });
        }
      }
      return found;
    },

    async putAccount(server, id, balance) {
      const k = accountKey(server, id);
      const existing = accounts.get(k);
      if (existing?.lockedBy !== undefined) throw new AccountLockedError(id, existing.lockedBy);
      const next: StoredAccount = {
        ...existing,
        server,
        account: id,
        balance,
        version: (existing?.version ?? 0) + 1,
      };
      accounts.set(k, next);
      return copyAccount(next);
    },

    accounts: () => [...accounts.values()].map(copyAccount),
    barriers: () => [...barriers.values()].map((s) => ({ ...s.barrier })),
  };
}
