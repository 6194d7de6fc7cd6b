/**
 * What the simulated client asks for: random 2PC transfers and random sagas
 * over the bank servers, drawn from the seed.
 *
 * Sagas hold no locks, so a compensation cannot assume the money it returns
 * is still there: undoing a deposit is a withdrawal that fails for
 * insufficient funds if the recipient spent it meanwhile, and compensations
 * are retried until they succeed. The sagas therefore move money from the
 * ordinary accounts into one escrow account per server, which only sagas
 * touch and only by depositing (actions) and withdrawing what they deposited
 * (compensations): an escrow account always holds at least every deposit not
 * yet undone, so every compensation can apply. The withdrawals are where the
 * business failures are (insufficient funds, an unknown account), and the
 * deposits that undo them always apply.
 */
import type { BeginRequest } from "../../src/coordinator/begin-transaction.ts";
import type { BranchSpec } from "../../src/core/transaction.ts";
import { REFUSE } from "./http-service.ts";
import type { Random } from "./random.ts";

/** The ordinary accounts on every server: the 2PC transfers' and the sagas' sources. */
export const ACCOUNT_IDS = ["a", "b", "c", "d"] as const;
/** Where sagas put money; nothing but a saga's own compensation takes it out. */
export const ESCROW = "escrow";

const otherAccount = (account: string) =>
  ACCOUNT_IDS[(ACCOUNT_IDS.indexOf(account as (typeof ACCOUNT_IDS)[number]) + 1) % ACCOUNT_IDS.length] ?? "a";

/**
 * A 2PC transfer: a withdrawal on one server and one or two deposits (another
 * server or another account), or a same-server `transfer`. Some are meant to
 * abort: more than the balance, an unknown account, a stale expectedVersion, 0.
 */
export function randomTransfer(rng: Random, servers: readonly string[], http?: string): BranchSpec[] {
  const branches = bankTransfer(rng, servers);
  // Now and then an HTTP participant records the transfer too, or refuses it.
  if (http !== undefined && rng.chance(0.4)) branches.push(httpBranch(rng, http, "record"));
  return branches;
}

/** A branch at an HTTP participant (no money moves there); one in ten it refuses. */
function httpBranch(rng: Random, participant: string, action: string): BranchSpec {
  return { participant, action, input: rng.chance(0.1) ? { [REFUSE]: true } : { note: action } };
}

function bankTransfer(rng: Random, servers: readonly string[]): BranchSpec[] {
  const account = () => (rng.chance(0.04) ? "ghost" : rng.pick(ACCOUNT_IDS));
  const amount = () => (rng.chance(0.02) ? 0 : rng.between(1, 60));
  const from = { server: rng.pick(servers), account: account() };
  if (rng.chance(0.25)) {
    // Within one server: a single transfer action.
    let to: string = rng.pick(ACCOUNT_IDS);
    if (to === from.account) to = otherAccount(to);
    return [
      {
        participant: from.server,
        action: "transfer",
        input: { account: from.account, to_account: to, amount: amount() },
      },
    ];
  }
  const total = amount();
  const withdraw: Record<string, unknown> = { account: from.account, amount: total };
  if (rng.chance(0.15)) withdraw.expectedVersion = rng.between(1, 4);
  const branches: BranchSpec[] = [{ participant: from.server, action: "withdraw", input: withdraw }];
  // One or two credits, anywhere (another server, or another account of the same one).
  const split = total > 1 && rng.chance(0.3) ? rng.between(1, total - 1) : total;
  for (const part of split === total ? [total] : [split, total - split]) {
    const to = { server: rng.pick(servers), account: account() };
    if (to.server === from.server && to.account === from.account) to.account = otherAccount(to.account);
    branches.push({
      participant: to.server,
      action: "deposit",
      input: { account: to.account, amount: part },
    });
  }
  return branches;
}

interface Branch extends BranchSpec {
  readonly stage: number;
}

/**
 * One move of a saga: `amount` from an ordinary account into a server's escrow,
 * as a withdrawal and a deposit (each a branch, in a stage of its own choosing)
 * or, within one server, as one `transfer`.
 */
function moveBranches(rng: Random, servers: readonly string[], stages: number): Branch[] {
  const stage = () => rng.int(stages);
  // Mostly affordable; now and then more than any balance, or from an account that does not exist.
  const amount = rng.chance(0.15) ? rng.between(150, 400) : rng.between(1, 60);
  const account = rng.chance(0.04) ? "ghost" : rng.pick(ACCOUNT_IDS);
  const from = rng.pick(servers);
  if (rng.chance(0.15)) {
    const input = { account, to_account: ESCROW, amount };
    return [
      {
        participant: from,
        action: "transfer",
        input,
        compensation: { action: "transfer", input: { account: ESCROW, to_account: account, amount } },
        stage: stage(),
      },
    ];
  }
  const withdraw = { account, amount };
  const deposit = { account: ESCROW, amount };
  return [
    {
      participant: from,
      action: "withdraw",
      input: withdraw,
      compensation: { action: "deposit", input: withdraw },
      stage: stage(),
    },
    {
      participant: rng.pick(servers),
      action: "deposit",
      input: deposit,
      compensation: { action: "withdraw", input: deposit },
      stage: stage(),
    },
  ];
}

export type SagaRequest = Omit<Extract<BeginRequest, { protocol: "saga" }>, "id" | "timeoutMs">;

/**
 * A saga of one or two moves over one to three stages: steps one after another,
 * parallel branches where moves share a stage, and some stages atomic (their
 * branches a 2PC group inside the saga). Money in equals money out, so a
 * committed saga conserves the total as a compensated one does.
 */
export function randomSaga(rng: Random, servers: readonly string[], http?: string): SagaRequest {
  const stages = rng.between(1, 3);
  const branches = Array.from({ length: rng.between(1, 2) }, () => moveBranches(rng, servers, stages)).flat();
  if (http !== undefined && rng.chance(0.5)) {
    // A step at an HTTP participant, in any stage (an atomic one too: it prepares and commits).
    branches.push({
      ...httpBranch(rng, http, "book"),
      compensation: { action: "unbook", input: {} },
      stage: rng.int(stages),
    });
  }
  const atomicStages: number[] = [];
  // A participant may be in one atomic stage of a saga: a stage whose participants
  // are in one already stays a plain stage.
  const inAtomic = new Set<string>();
  for (const stage of new Set(branches.map((b) => b.stage))) {
    const names = branches.filter((b) => b.stage === stage).map((b) => b.participant);
    if (!rng.chance(0.3) || names.some((n) => inAtomic.has(n))) continue;
    atomicStages.push(stage);
    for (const n of names) inAtomic.add(n);
  }
  return { protocol: "saga", branches, atomicStages };
}
