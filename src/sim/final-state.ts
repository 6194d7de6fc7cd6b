/**
 * Design §4's invariants, read from the state a simulated run ends in: the
 * transaction records, the bank's accounts and barriers, and the ledger of
 * every effect the bank made durable. For sagas, per branch: a committed saga
 * applied every step once; a compensated one undid every attempted step once,
 * never applied a step after its compensation, and undid its stages in reverse
 * order; an atomic stage applied at all of its participants or at none; and
 * the view a client reads agrees with what the participants hold.
 */
import { isFinal, type SagaRecord, type TxRecord } from "../core/transaction.ts";
import { type BranchState, toView } from "../core/view.ts";
import type { Barrier, StepBarrier } from "../participant-kit/barriers.ts";
import type { MemoryParticipantStore } from "../participant-kit/memory-participant-store.ts";
import { type AccountState, parseBranch } from "../participants/bank/bank-rules.ts";
import type { ServiceBarrier, ServiceStep } from "./http-service.ts";
import type { Entry } from "./ledger.ts";

export const FINAL_STATE_INVARIANTS = [
  "atomicity",
  "agreement",
  "conservation",
  "non-negative",
  "liveness",
  "no-lock-left",
  "reservation-within-available",
  "no-reservation-left",
  "no-prepared-left",
  "saga-exactly-once",
  "saga-committed",
  "saga-compensated",
  "saga-barrier",
  "saga-order",
  "atomic-stage",
  "view-agreement",
] as const;
export type FinalStateInvariant = (typeof FINAL_STATE_INVARIANTS)[number];

export interface FinalState {
  readonly expectedIds: readonly string[];
  readonly records: readonly TxRecord[];
  /**
   * Records the TTL deleted during the run (their ids may have been used again):
   * their effects stand in the balances, and their sagas are checked all the same.
   */
  readonly expired?: readonly TxRecord[];
  /**
   * A barrier decided this long before `now` may have been deleted by its TTL:
   * its absence then contradicts nothing. Without it, barriers never expire.
   */
  readonly expiry?: { readonly retentionMs: number; readonly now: number };
  readonly bank: MemoryParticipantStore<AccountState>;
  /** Every account's balance before the run, by `server/account`. */
  readonly initial: ReadonlyMap<string, number>;
  readonly ledger: readonly Entry[];
  /** Simulated HTTP participants: their barriers are held to the same rules as the bank's. */
  readonly services?: readonly { barriers(): ServiceBarrier[]; steps(): ServiceStep[] }[];
}

type AnyBarrier =
  | Pick<Barrier<AccountState>, "participant" | "txId" | "txStartedAt" | "state">
  | ServiceBarrier;
type AnyStep = Pick<StepBarrier, "participant" | "txId" | "txStartedAt" | "branch" | "state"> | ServiceStep;

export type Violate = (invariant: FinalStateInvariant, detail: string) => void;

/** One incarnation of an id: barriers and ledger entries are matched to records by it. */
const incarnation = (txId: string, startedAt: number | undefined) => `${txId}@${startedAt ?? ""}`;

export function checkFinalState(state: FinalState, violate: Violate): void {
  const { bank } = state;
  const records = new Map(state.records.map((tx) => [tx.id, tx]));
  const expired = state.expired ?? [];
  for (const id of state.expectedIds) if (!records.has(id)) violate("liveness", `${id} has no record`);
  for (const tx of records.values()) {
    if (!isFinal(tx.state)) violate("liveness", `${tx.id} is still ${tx.state}`);
  }
  const accounts = bank.resources().map((r) => ({
    server: r.participant,
    account: r.id,
    balance: r.state?.balance ?? 0,
    lockedBy: r.lockedBy,
    hold: r.holds?.balance,
  }));
  for (const a of accounts) {
    if (a.lockedBy !== undefined) violate("no-lock-left", `${a.server}/${a.account} locked by ${a.lockedBy}`);
    // Escrow: what is reserved never exceeds the balance, and every hold goes with its decision.
    if (a.hold !== undefined) {
      const { reserved, pending } = a.hold;
      if (reserved < 0 || pending < 0 || reserved > a.balance) {
        violate(
          "reservation-within-available",
          `${a.server}/${a.account}: ${reserved} reserved, ${pending} pending on ${a.balance}`,
        );
      }
      violate(
        "no-reservation-left",
        `${a.server}/${a.account} still holds ${reserved} reserved, ${pending} pending`,
      );
    }
    if (a.balance < 0) violate("non-negative", `${a.server}/${a.account} has ${a.balance}`);
  }
  const services = state.services ?? [];
  const barriers: AnyBarrier[] = [...bank.barriers(), ...services.flatMap((s) => s.barriers())];
  for (const b of barriers) {
    if (b.state === "prepared")
      violate("no-prepared-left", `${b.participant}'s barrier for ${b.txId} is prepared`);
  }
  // Agreement: every participant of a committed 2PC (or atomic stage) committed; none of an aborted one did.
  // A barrier of another incarnation of the id is not this transaction's. The bank keeps one
  // barrier per id, a service may keep one per incarnation; one without an incarnation (an
  // older version's) is read as any incarnation's.
  const barrierOf = new Map(
    barriers.map((b) => [`${b.participant}/${incarnation(b.txId, b.txStartedAt)}`, b]),
  );
  // A plain 2PC barrier expires from its decision; an atomic stage's committed one only from its saga's end.
  const mayHaveExpired = (tx: TxRecord) => {
    const since = tx.protocol === "saga" ? tx.completedAt : tx.decidedAt;
    return (
      state.expiry !== undefined &&
      since !== undefined &&
      since + state.expiry.retentionMs <= state.expiry.now
    );
  };
  const agree = (tx: TxRecord, names: readonly string[], decision: "commit" | "abort", what: string) => {
    for (const name of names) {
      const state = (
        barrierOf.get(`${name}/${incarnation(tx.id, tx.createdAt)}`) ??
        barrierOf.get(`${name}/${incarnation(tx.id, undefined)}`)
      )?.state;
      if (state === undefined && mayHaveExpired(tx)) continue;
      if (decision === "commit" && state !== "committed") {
        violate("agreement", `${what} committed but ${name}'s barrier is ${state ?? "absent"}`);
      }
      if (decision === "abort" && (state === "committed" || state === "prepared")) {
        violate("agreement", `${what} aborted but ${name}'s barrier is ${state}`);
      }
    }
  };
  const stepsOf = new Map<string, AnyStep[]>();
  for (const step of [...bank.steps(), ...services.flatMap((s) => s.steps())]) {
    const k = incarnation(step.txId, step.txStartedAt);
    stepsOf.set(k, [...(stepsOf.get(k) ?? []), step]);
  }
  // Each incarnation's ledger entries with their positions, read once for all sagas.
  const entriesOf = new Map<string, Positioned[]>();
  state.ledger.forEach((entry, at) => {
    const k = incarnation(entry.txId, entry.startedAt);
    const mine = entriesOf.get(k);
    if (mine) mine.push({ at, entry });
    else entriesOf.set(k, [{ at, entry }]);
  });
  const all = [...records.values(), ...expired];
  for (const tx of all) {
    const names = tx.protocol === "2pc" ? tx.participants.map((p) => p.name) : [];
    if (tx.state === "committed" || tx.state === "aborted") {
      agree(tx, names, tx.state === "committed" ? "commit" : "abort", tx.id);
    }
    if (tx.protocol === "saga") {
      const k = incarnation(tx.id, tx.createdAt);
      checkSaga(tx, entriesOf.get(k) ?? [], stepsOf.get(k) ?? [], agree, violate);
    }
  }
  checkBalances(all, accounts, state.initial, violate);
}

/** Atomicity and conservation: the balances are the initial ones plus every committed transaction, whole. */
function checkBalances(
  records: readonly TxRecord[],
  accounts: readonly { server: string; account: string; balance: number }[],
  initial: ReadonlyMap<string, number>,
  violate: Violate,
): void {
  const expected = new Map(initial);
  for (const tx of records) {
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
  let total = 0;
  let initialTotal = 0;
  for (const v of initial.values()) initialTotal += v;
  for (const a of accounts) {
    total += a.balance;
    const want = expected.get(`${a.server}/${a.account}`);
    if (want !== a.balance) {
      violate(
        "atomicity",
        `${a.server}/${a.account} is ${a.balance}, committed transactions make it ${want}`,
      );
    }
  }
  if (total !== initialTotal) violate("conservation", `total ${total}, was ${initialTotal}`);
}

/** Where one branch's effects stand, from the ledger: positions of its applications and compensations. */
interface BranchEffects {
  readonly applied: number[];
  readonly undone: number[];
  /** Every compensation write, with or without effect: when the barrier closed. */
  readonly closed: number[];
}

/** A ledger entry and its position in the whole ledger (the order effects became durable). */
interface Positioned {
  readonly at: number;
  readonly entry: Entry;
}

function effectsOf(tx: SagaRecord, entries: readonly Positioned[]): BranchEffects[] {
  const effects = tx.branches.map((): BranchEffects => ({ applied: [], undone: [], closed: [] }));
  for (const { at, entry: e } of entries) {
    if (e.kind === "commit") {
      // An atomic stage's commit applies the branches it prepared.
      for (const b of e.branches)
        if (tx.branches[b]?.participant === e.participant) effects[b]?.applied.push(at);
      continue;
    }
    const mine = effects[e.branch];
    if (!mine || e.kind === "failed") continue;
    if (e.kind === "action") {
      if (e.applied) mine.applied.push(at);
      continue;
    }
    mine.closed.push(at);
    if (e.applied) mine.undone.push(at);
  }
  return effects;
}

const APPLIED_IN_VIEW: ReadonlySet<BranchState> = new Set(["done", "committed"]);

function checkSaga(
  tx: SagaRecord,
  entries: readonly Positioned[],
  steps: readonly AnyStep[],
  agree: (tx: TxRecord, names: readonly string[], decision: "commit" | "abort", what: string) => void,
  violate: Violate,
): void {
  if (!isFinal(tx.state)) return;
  const effects = effectsOf(tx, entries);
  const committed = tx.state === "committed";
  effects.forEach((e, b) => {
    const at = `${tx.id}#${b} (${tx.branches[b]?.participant} ${tx.branches[b]?.action})`;
    if (e.applied.length > 1 || e.undone.length > 1 || e.closed.length > 1) {
      violate(
        "saga-exactly-once",
        `${at} applied ${e.applied.length}x, compensated ${e.undone.length}x, compensation recorded ${e.closed.length}x`,
      );
    }
    const firstClosed = e.closed[0];
    if (firstClosed !== undefined && e.applied.some((a) => a > firstClosed)) {
      violate("saga-barrier", `${at} applied after its compensation was recorded`);
    }
    if (committed && (e.applied.length !== 1 || e.closed.length > 0)) {
      violate(
        "saga-committed",
        `${at}: saga committed, step applied ${e.applied.length}x, compensation recorded ${e.closed.length}x`,
      );
    }
    if (!committed && e.applied.length !== e.undone.length) {
      violate(
        "saga-compensated",
        `${at}: saga compensated, step applied ${e.applied.length}x, undone ${e.undone.length}x`,
      );
    }
  });
  // Compensations in reverse stage order: a stage's are all recorded before any of an earlier stage's.
  if (!committed) {
    let latestLater = Number.NEGATIVE_INFINITY;
    let laterStage: number | undefined;
    for (let i = tx.stages.length - 1; i >= 0; i--) {
      const stage = tx.stages[i];
      if (!stage) continue;
      const closed = stage.branches.flatMap((b) => effects[b]?.closed ?? []);
      if (closed.length === 0) continue;
      if (Math.min(...closed) < latestLater) {
        violate(
          "saga-order",
          `${tx.id}: stage ${stage.stage}'s compensation began before stage ${laterStage}'s was done`,
        );
      }
      if (Math.max(...closed) > latestLater) {
        latestLater = Math.max(...closed);
        laterStage = stage.stage;
      }
    }
  }
  // Atomic stages: applied at every participant or at none, as their decision says.
  for (const stage of tx.stages) {
    const group = stage.atomic;
    if (!group) continue;
    const names = group.participants.map((p) => p.name);
    const applied = stage.branches.filter((b) => (effects[b]?.applied.length ?? 0) > 0).length;
    if (applied !== 0 && applied !== stage.branches.length) {
      violate(
        "atomic-stage",
        `${tx.id}: ${applied} of stage ${stage.stage}'s ${stage.branches.length} branches applied`,
      );
    }
    if (applied > 0 !== (group.decision === "commit")) {
      violate(
        "atomic-stage",
        `${tx.id}: stage ${stage.stage} decided ${group.decision ?? "nothing"}, ${applied} branches applied`,
      );
    }
    agree(tx, names, group.decision === "commit" ? "commit" : "abort", `${tx.id} stage ${stage.stage}`);
  }
  // Step barriers agree with the outcome: done when committed, compensated when not.
  for (const step of steps) {
    const want = committed ? "done" : "compensated";
    if (step.state !== want) {
      violate(
        "agreement",
        `saga ${tx.id} ${tx.state}, step ${step.participant}#${step.branch} is ${step.state}`,
      );
    }
  }
  // What a client reads: the outcome, and each branch applied exactly when it says so.
  const view = toView(tx);
  if (view.status !== (committed ? "committed" : "aborted")) {
    violate("view-agreement", `${tx.id} is ${tx.state}, the view says ${view.status}`);
  }
  view.branches.forEach((branch, b) => {
    const e = effects[b];
    const net = (e?.applied.length ?? 0) - (e?.undone.length ?? 0);
    if (APPLIED_IN_VIEW.has(branch.state) !== (net === 1)) {
      violate(
        "view-agreement",
        `${tx.id}#${b} reads ${branch.state}, its effect stands ${net}x at ${branch.participant}`,
      );
    }
  });
}
