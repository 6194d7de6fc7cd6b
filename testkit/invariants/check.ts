/**
 * Design §4's invariants, read from a snapshot of the state (snapshot.ts): the
 * one checker the simulation, the chaos run and the integration helpers use.
 * Each check runs when the snapshot carries what it needs: balances against the
 * opening ones (or a total), barriers and step barriers against the records'
 * decisions, and, given the ledger of effects, every saga branch.
 */
import { isFinal, type TxRecord } from "../../src/core/transaction.ts";
import { parseBranch } from "../../src/participants/bank/bank-rules.ts";
import { checkSaga, type Positioned } from "./saga.ts";
import {
  type AccountView,
  type BarrierView,
  incarnation,
  type Snapshot,
  type StateViolation,
  type StepView,
  type Violate,
} from "./snapshot.ts";

/** Every violation found, in the order checked; empty when every invariant holds. */
export function checkInvariants(snapshot: Snapshot): StateViolation[] {
  const found: StateViolation[] = [];
  checkSnapshot(snapshot, (invariant, detail) => {
    found.push({ invariant, detail });
  });
  return found;
}

/** The same, reporting each violation as it is found. */
export function checkSnapshot(state: Snapshot, violate: Violate): void {
  const records = new Map(state.records.map((tx) => [tx.id, tx]));
  const all = [...records.values(), ...(state.expired ?? [])];
  // Liveness: every transaction final, no lock or reservation held, no barrier left prepared.
  for (const id of state.expectedIds ?? []) if (!records.has(id)) violate("liveness", `${id} has no record`);
  for (const tx of records.values()) {
    if (!isFinal(tx.state)) violate("liveness", `${tx.id} is still ${tx.state}`);
  }
  for (const a of state.accounts) {
    if (a.lockedBy !== undefined) violate("no-lock-left", `${a.participant}/${a.id} locked by ${a.lockedBy}`);
    // Escrow: what is reserved never exceeds the balance, and every hold goes with its decision.
    if (a.hold !== undefined) {
      const { reserved, pending } = a.hold;
      if (reserved < 0 || pending < 0 || reserved > a.balance) {
        violate(
          "reservation-within-available",
          `${a.participant}/${a.id}: ${reserved} reserved, ${pending} pending on ${a.balance}`,
        );
      }
      violate(
        "no-reservation-left",
        `${a.participant}/${a.id} still holds ${reserved} reserved, ${pending} pending`,
      );
    }
    if (a.balance < 0) violate("non-negative", `${a.participant}/${a.id} has ${a.balance}`);
    // Every lock went with a decision, and each release took the waiters registered on it.
    if (a.waiters !== undefined && a.waiters.length > 0)
      violate("no-waiter-left", `${a.participant}/${a.id} still has waiters ${a.waiters.join(",")}`);
  }
  for (const b of state.barriers) {
    if (b.state === "prepared")
      violate("no-prepared-left", `${b.participant}'s barrier for ${b.txId} is prepared`);
  }
  checkAgreement(state, all, violate);
  checkAttempts(state, all, violate);
  checkSteps(state, all, violate);
  checkBalances(state, all, violate);
}

/** The barriers of one incarnation; one without an incarnation (an older version's) is any incarnation's. */
function byIncarnation<T extends { txId: string; txStartedAt?: number | undefined }>(items: readonly T[]) {
  const of = new Map<string, T[]>();
  for (const item of items) {
    const k = incarnation(item.txId, item.txStartedAt);
    const mine = of.get(k);
    if (mine) mine.push(item);
    else of.set(k, [item]);
  }
  return (tx: TxRecord): T[] => [
    ...(of.get(incarnation(tx.id, tx.createdAt)) ?? []),
    ...(of.get(incarnation(tx.id, undefined)) ?? []),
  ];
}

/**
 * Agreement: every barrier of a committed transaction is committed, none of an
 * aborted one committed or prepared. Given the ledger (the simulation, where
 * nothing else writes), every participant a 2PC or an atomic stage names must
 * hold its barrier too, unless the TTL may have taken it.
 */
function checkAgreement(state: Snapshot, all: readonly TxRecord[], violate: Violate): void {
  const barriersOf = byIncarnation<BarrierView>(state.barriers);
  const listed = (bs: readonly BarrierView[]) => bs.map((b) => `${b.participant}:${b.state}`).join(",");
  for (const tx of all) {
    const bs = barriersOf(tx);
    if (tx.state === "committed" && bs.some((b) => b.state !== "committed"))
      violate("agreement", `${tx.id} committed, barriers ${listed(bs)}`);
    if (tx.state === "aborted" && bs.some((b) => b.state === "committed" || b.state === "prepared"))
      violate("agreement", `${tx.id} aborted, barriers ${listed(bs)}`);
  }
  if (!state.ledger) return;
  const barrierOf = new Map(
    state.barriers.map((b) => [`${b.participant}/${incarnation(b.txId, b.txStartedAt)}`, b]),
  );
  const mayHaveExpired = expiredMaybe(state);
  const agree = (tx: TxRecord, names: readonly string[], decision: "commit" | "abort", what: string) => {
    for (const name of names) {
      const barrier =
        barrierOf.get(`${name}/${incarnation(tx.id, tx.createdAt)}`) ??
        barrierOf.get(`${name}/${incarnation(tx.id, undefined)}`);
      if (barrier === undefined && mayHaveExpired(tx)) continue;
      if (decision === "commit" && barrier?.state !== "committed") {
        violate("agreement", `${what} committed but ${name}'s barrier is ${barrier?.state ?? "absent"}`);
      }
      if (decision === "abort" && (barrier?.state === "committed" || barrier?.state === "prepared")) {
        violate("agreement", `${what} aborted but ${name}'s barrier is ${barrier.state}`);
      }
    }
  };
  // Each incarnation's ledger entries with their positions, read once for all sagas.
  const entriesOf = new Map<string, Positioned[]>();
  state.ledger.forEach((entry, at) => {
    const k = incarnation(entry.txId, entry.startedAt);
    const mine = entriesOf.get(k);
    if (mine) mine.push({ at, entry });
    else entriesOf.set(k, [{ at, entry }]);
  });
  for (const tx of all) {
    if (tx.protocol === "2pc" && (tx.state === "committed" || tx.state === "aborted")) {
      const names = tx.participants.map((p) => p.name);
      agree(tx, names, tx.state === "committed" ? "commit" : "abort", tx.id);
    }
    if (tx.protocol === "saga") {
      checkSaga(tx, entriesOf.get(incarnation(tx.id, tx.createdAt)) ?? [], agree, violate);
    }
  }
}

/**
 * Whether a transaction's barriers may have been deleted by their TTL: a plain 2PC
 * barrier expires from its decision, an atomic stage's committed one and a step
 * barrier only from their saga's end, a one-phase one from its write, which may
 * come any time after the transaction began.
 */
function expiredMaybe(state: Snapshot): (tx: TxRecord) => boolean {
  return (tx) => {
    const since = tx.protocol === "saga" ? tx.completedAt : tx.onePhase ? tx.createdAt : tx.decidedAt;
    return (
      state.expiry !== undefined &&
      since !== undefined &&
      since + state.expiry.retentionMs <= state.expiry.now
    );
  };
}

/**
 * A restarted transaction's earlier attempt left nothing behind: no barrier of
 * an attempt before the record's last holds (prepared) or applied (committed)
 * anything; only the last attempt's barriers speak for the outcome.
 */
function checkAttempts(state: Snapshot, all: readonly TxRecord[], violate: Violate): void {
  const barriersOf = byIncarnation<BarrierView>(state.barriers);
  for (const tx of all) {
    if (tx.protocol !== "2pc" || (tx.attempt ?? 0) === 0) continue;
    for (const b of barriersOf(tx)) {
      const attempt = b.attempt ?? 0;
      if (attempt < (tx.attempt ?? 0) && (b.state === "prepared" || b.state === "committed")) {
        violate(
          "restart-left-nothing",
          `${tx.id} is at attempt ${tx.attempt}, but ${b.participant}'s barrier of attempt ${attempt} is ${b.state}`,
        );
      }
    }
  }
}

/**
 * Step barriers agree with their saga's outcome: done when committed, compensated
 * when not. And a committed saga's step at a participant whose accounts the
 * snapshot holds (whose step barriers it holds too) left its `done` barrier,
 * unless the TTL may have taken it: the action's effect and its barrier are one
 * write, so a branch reported done without one never applied.
 */
function checkSteps(state: Snapshot, all: readonly TxRecord[], violate: Violate): void {
  const stepsOf = byIncarnation<StepView>(state.steps);
  const mayHaveExpired = expiredMaybe(state);
  const held = new Set(state.accounts.map((a) => a.participant));
  for (const tx of all) {
    if (tx.protocol !== "saga" || !isFinal(tx.state)) continue;
    const want = tx.state === "committed" ? "done" : "compensated";
    const steps = stepsOf(tx);
    for (const step of steps) {
      if (step.state !== want) {
        violate(
          "agreement",
          `saga ${tx.id} ${tx.state}, step ${step.participant}#${step.branch} is ${step.state}`,
        );
      }
    }
    if (tx.state !== "committed" || mayHaveExpired(tx)) continue;
    for (const stage of tx.stages) {
      if (stage.atomic) continue;
      for (const b of stage.branches) {
        const participant = tx.branches[b]?.participant;
        if (participant === undefined || !held.has(participant)) continue;
        if (!steps.some((st) => st.participant === participant && st.branch === b)) {
          violate(
            "saga-committed",
            `saga ${tx.id} committed, but ${participant} holds no step barrier for branch ${b}`,
          );
        }
      }
    }
  }
}

/**
 * Atomicity and conservation: the balances are the opening ones plus every
 * committed transaction, whole and once, and their total does not move.
 */
function checkBalances(state: Snapshot, all: readonly TxRecord[], violate: Violate): void {
  const { initial, accounts } = state;
  const total = accounts.reduce((sum, a) => sum + a.balance, 0);
  if (state.expectedTotal !== undefined && total !== state.expectedTotal)
    violate("conservation", `total ${total}, was ${state.expectedTotal}`);
  if (!initial) return;
  const expected = new Map(initial);
  for (const tx of all) {
    if (tx.state !== "committed") continue;
    tx.branches.forEach((branch, index) => {
      const parsed = parseBranch({ index, action: branch.action, input: branch.input });
      if (!parsed.ok) return;
      for (const m of parsed.movements) {
        const key = `${branch.participant}/${m.account}`;
        expected.set(key, (expected.get(key) ?? 0) + m.delta);
      }
    });
  }
  const stored = new Map<string, AccountView>(accounts.map((a) => [`${a.participant}/${a.id}`, a]));
  for (const key of initial.keys())
    if (!stored.has(key)) violate("conservation", `${key} was opened, no longer stored`);
  let initialTotal = 0;
  for (const v of initial.values()) initialTotal += v;
  for (const [key, a] of stored) {
    const want = expected.get(key);
    if (want !== a.balance)
      violate(
        "atomicity",
        `${key} is ${a.balance}, committed transactions make it ${want}${suspects(state, all, a, (want ?? 0) - a.balance)}`,
      );
  }
  if (total !== initialTotal) violate("conservation", `total ${total}, was ${initialTotal}`);
}

/**
 * For an account off by `missing`: the transactions on it that moved exactly
 * that amount, with their outcome and what their barriers and steps there say,
 * so a report names where to look.
 */
function suspects(state: Snapshot, all: readonly TxRecord[], account: AccountView, missing: number): string {
  const lines: string[] = [];
  for (const tx of all) {
    tx.branches.forEach((branch, index) => {
      if (branch.participant !== account.participant) return;
      const parsed = parseBranch({ index, action: branch.action, input: branch.input });
      if (!parsed.ok) return;
      for (const m of parsed.movements) {
        if (m.account !== account.id || Math.abs(m.delta) !== Math.abs(missing)) continue;
        const barriers = state.barriers
          .filter((b) => b.txId === tx.id && b.participant === account.participant)
          .map((b) => `barrier ${b.state}@${b.attempt ?? 0}`);
        const steps = state.steps
          .filter((st) => st.txId === tx.id && st.participant === account.participant && st.branch === index)
          .map((st) => `step ${st.state}`);
        const attempt = tx.protocol === "2pc" ? `@${tx.attempt ?? 0}` : "";
        const events = tx.events
          .map((e) => {
            const f = e as unknown as Record<string, unknown>;
            const parts = [f.type, f.step, f.outcome, f.branch, f.participant, f.decision, f.reason];
            return `${Number(f.at) - tx.createdAt}:${parts.filter((x) => x !== undefined).join("/")}`;
          })
          .join(" ");
        lines.push(
          `${tx.id} ${tx.protocol} ${tx.state}${attempt} ${branch.action} ${m.delta} [${[...barriers, ...steps].join(", ")}] {${events}}`,
        );
      }
    });
  }
  return lines.length > 0 ? `; moved ${Math.abs(missing)} there: ${lines.slice(0, 20).join("; ")}` : "";
}
