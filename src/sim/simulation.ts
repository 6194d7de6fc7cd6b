/**
 * Deterministic simulation of concord's 2PC and sagas: the real use cases (beginTransaction,
 * the coordinator, the sweeper, the bank participants, the HTTP dispatcher over a simulated
 * service and network) over in-memory stores, an
 * in-memory message pool standing in for SQS, and a simulated clock, driven one
 * step at a time by a seeded scheduler that reorders, duplicates and drops
 * messages, fails sends and crashes handlers at their named crash points.
 *
 * Everything runs on one thread and every step is awaited before the next, so
 * a seed fully determines the run: a failing seed replays exactly, with its trace.
 * After the faults phase a quiet phase delivers everything and sweeps until every
 * transaction is final; then design §4's invariants are checked on the state.
 */
import type { TransactionStore } from "../adapters/dynamodb-transaction-store.ts";
import type { MessageBus } from "../adapters/sqs-bus.ts";
import { abortTransaction, retryTransaction } from "../coordinator/admin.ts";
import { type BeginRequest, beginTransaction } from "../coordinator/begin-transaction.ts";
import { createCoordinator } from "../coordinator/coordinator.ts";
import { createSweeper } from "../coordinator/sweeper.ts";
import { LOCK_POLICIES, type LockPolicy } from "../core/lock-policy.ts";
import {
  type CoordinatorMessage,
  coordinatorMessage,
  type ParticipantMessage,
  participantMessage,
} from "../core/messages.ts";
import { isFinal, isWaiting, type TxRecord } from "../core/transaction.ts";
import { decisionOf, type Policy } from "../core/two-phase-commit.ts";
import { type Status, statusOf } from "../core/view.ts";
import type { CrashPoint } from "../crash-points.ts";
import { createDispatcher, type Dispatcher } from "../http-participants/dispatcher.ts";
import { UNKNOWN_TRANSACTION } from "../http-participants/http-protocol.ts";
import type { Log, LogFields } from "../log.ts";
import { RetryLaterError } from "../participant-kit/errors.ts";
import type { LockMode } from "../participant-kit/lock-mode.ts";
import {
  createMemoryParticipantStore,
  type MemoryParticipantStore,
} from "../participant-kit/memory-participant-store.ts";
import {
  type BankParticipant,
  createBankParticipant,
  ProtocolViolationError,
} from "../participants/bank/bank-participant.ts";
import { type AccountState, bankModel } from "../participants/bank/bank-rules.ts";
import type { BankStore } from "../participants/bank/bank-store.ts";
import { checkFinalState, FINAL_STATE_INVARIANTS } from "./final-state.ts";
import { createSimulatedHttpService, NETWORK_FAULTS, type SimulatedHttpService } from "./http-service.ts";
import { createLedger } from "./ledger.ts";
import { createMemoryTransactionStore, type MemoryTransactionStore } from "./memory-transaction-store.ts";
import { createRandom } from "./random.ts";
import { ACCOUNT_IDS, ESCROW, randomSaga, randomTransfer } from "./workload.ts";

/** A process dying at a crash point: whatever the step would have done after it is lost. */
export class SimulatedCrash extends Error {
  override name = "SimulatedCrash";
  constructor(readonly point: SimCrashPoint) {
    super(`simulated crash at ${point}`);
  }
}

/** The named crash points, right after any durable store write, and the dispatcher's after its call. */
export type SimCrashPoint = CrashPoint | "after-store-write" | "after-http-call";

/** A send that failed after the SDK's retries. */
export class SimulatedSendFailure extends Error {
  override name = "SimulatedSendFailure";
}

const isSimulatedFault = (err: unknown) =>
  err instanceof SimulatedCrash || err instanceof SimulatedSendFailure;

/**
 * Deliberately broken stores, to show the simulation catches real bugs.
 * - rollback-applies: a ROLLBACK applies the reservation as a COMMIT would.
 * - no-rollback-barrier: a ROLLBACK before its PREPARE leaves no barrier, so the late PREPARE hangs.
 * - no-compensation-barrier: a saga compensation for an action that has not run records
 *   nothing, so the late action applies after its compensation.
 * - expires-at-write: a done step barrier, and an atomic stage's committed barrier,
 *   expire a retention after they are written (as they once did), not after the saga ends.
 * - decision-ignores-incarnation: a decision is judged on the barrier as if it were always
 *   its own incarnation's (as before decisions named one).
 */
export const MUTANTS = {
  "rollback-applies": (store: BankStore): BankStore => ({ ...store, rollback: store.commit }),
  "expires-at-write": (store: BankStore): BankStore => ({
    ...store,
    async writeStep(step, from, planned, now) {
      await store.writeStep(step, from, planned, now);
      if (step.state === "done") {
        await store.finish(step.participant, step.txId, step.txStartedAt, [step.branch], now);
      }
    },
    async commit(barrier, now) {
      await store.commit(barrier, now);
      await store.finish(barrier.participant, barrier.txId, barrier.txStartedAt ?? 0, [], now);
    },
  }),
  "decision-ignores-incarnation": (store: BankStore): BankStore => {
    // The decision reads the barrier without its incarnation; what it writes is the stored barrier.
    const stored = async <B extends { participant: string; txId: string }>(barrier: B): Promise<B> => ({
      ...barrier,
      ...(await store.getBarrier(barrier.participant, barrier.txId)),
    });
    return {
      ...store,
      async getBarrier(participant, txId) {
        const barrier = await store.getBarrier(participant, txId);
        if (!barrier) return undefined;
        const { txStartedAt: _s, ...rest } = barrier;
        return rest;
      },
      commit: async (barrier, now) => store.commit(await stored(barrier), now),
      rollback: async (barrier, now) => store.rollback(await stored(barrier), now),
    };
  },
  "no-rollback-barrier": (store: BankStore): BankStore => ({ ...store, rollbackUnprepared: async () => {} }),
  "no-compensation-barrier": (store: BankStore): BankStore => ({
    ...store,
    async writeStep(step, from, planned, now) {
      const nothingToUndo = step.state === "compensated" && from === undefined && planned.length === 0;
      if (!nothingToUndo) await store.writeStep(step, from, planned, now);
    },
  }),
} as const satisfies Record<string, (store: BankStore) => BankStore>;
export type BankMutant = keyof typeof MUTANTS;

/**
 * A dispatcher broken the way it once was, to show the simulation catches it.
 * - late-prepare-votes-no: a PREPARE past its deadline votes no (`timeout`), which
 *   excuses the participant from the ROLLBACK though an earlier copy may have prepared it.
 * - bare-404-acknowledges: any 404 to a ROLLBACK acknowledges it, a gateway's too.
 */
export const HTTP_MUTANTS = ["late-prepare-votes-no", "bare-404-acknowledges"] as const;
export type HttpMutant = (typeof HTTP_MUTANTS)[number];
export type Mutant = BankMutant | HttpMutant;
const isHttpMutant = (m: Mutant | undefined): m is HttpMutant => HTTP_MUTANTS.includes(m as HttpMutant);

export interface SimulationOptions {
  readonly seed: number;
  /** Record every step (slower); a failing seed is replayed with it on. */
  readonly trace?: boolean;
  /** Transactions started during the faults phase; drawn from the seed when absent. */
  readonly transfers?: number;
  /** The share of those transactions that are sagas (the rest are 2PC transfers); 0.3 by default. */
  readonly sagaShare?: number;
  readonly mutant?: Mutant;
  /** Every seed under this lock policy instead of the one it draws (the other draws stay the same). */
  readonly lockPolicy?: LockPolicy;
  /** Wraps the bank store: another way to break it on purpose. */
  readonly wrapBankStore?: (store: BankStore) => BankStore;
  /**
   * Transactions name an HTTP participant too, served by the real dispatcher over a
   * simulated service and network; on by default. Off, a seed runs as it did before
   * HTTP participants were simulated (no draw is taken for them).
   */
  readonly httpParticipants?: boolean;
  /**
   * Runs the barrier-expiry clock in this seed whatever its draw (one seed in
   * four draws it): long pauses while compensations are blocked, TTL deletion
   * of barriers and records, ids used again after their record expired.
   */
  readonly expiry?: boolean;
}

export const INVARIANTS = [
  ...FINAL_STATE_INVARIANTS,
  "decision-stable",
  "deadlock-victim",
  "client-outcome-stable",
  "unexpected-error",
] as const;
export type Invariant = (typeof INVARIANTS)[number];

export interface Violation {
  readonly invariant: Invariant;
  readonly detail: string;
}

export interface SimulationResult {
  readonly seed: number;
  readonly violation?: Violation;
  readonly transactions: number;
  readonly committed: number;
  /** Of the transactions, how many were sagas, and how many of those were compensated. */
  readonly sagas: number;
  readonly compensated: number;
  /** Transactions the sweeper aborted to break a deadlock (the detect lock policy). */
  readonly deadlocks: number;
  readonly steps: number;
  /** The faults drawn for this seed. */
  readonly faults: FaultModel;
  /** Every step, when `trace` was on. */
  readonly trace: readonly string[];
  /** The expiry clock: pauses longer than the retention, and ids used again after their record expired. */
  readonly pauses: number;
  readonly reusedIds: number;
}

export interface FaultModel {
  readonly servers: number;
  readonly lockPolicy: LockPolicy;
  /** Reservations (escrow) or exclusive locks for the bank's balances. */
  readonly lockMode: LockMode;
  readonly dropRate: number;
  readonly duplicateRate: number;
  readonly crashRate: number;
  readonly sendFailRate: number;
  /** The share of calls to the HTTP participant the network spoils (0 without one). */
  readonly httpFaultRate: number;
  /** The barrier-expiry clock runs in this seed. */
  readonly expiry: boolean;
}

interface Envelope {
  readonly seq: number;
  readonly sentAt: number;
  /** "coordinator" or a participant's name. */
  readonly to: string;
  readonly body: CoordinatorMessage | ParticipantMessage;
  visibleAt: number;
}

interface ClientTx {
  readonly id: string;
  readonly request: BeginRequest;
  /** The outcome the client was told last, once it was not pending. */
  told?: Status;
  /** The begin call crashed before answering: the client will retry it. */
  unanswered: boolean;
  /** Its record expired (the TTL deleted it): the client asks no more, and the id may serve again. */
  expired?: boolean;
}

/** Thrown out of the run when a violation is seen; carries it to the top. */
class ViolationFound extends Error {
  constructor(readonly violation: Violation) {
    super(`${violation.invariant}: ${violation.detail}`);
  }
}

const START = 1_700_000_000_000;
export const DEFAULT_SAGA_SHARE = 0.3;
const POLICY: Policy = {
  prepareRetryMs: 1_000,
  decisionRetryMs: 1_000,
  waitingRetryMs: 4_000,
  backoffCapMs: 4_000,
  stalledAfterAttempts: 10,
  maxEvents: 100,
};
const IN_DOUBT_AFTER_MS = 3_000;
/** The simulated HTTP participant, and the dispatcher's per-call limit. */
const HTTP_PARTICIPANT = "ext";
const HTTP_TIMEOUT_MS = 3_000;
const QUIET_STEP_LIMIT = 50_000;
/**
 * The expiry clock, scaled down as config.ts requires it at full scale: SQS keeps
 * a message at most MESSAGE_RETENTION_MS, and a final barrier or record is kept
 * RETENTION_SECONDS, more than the longest timeout (20 s) plus that.
 */
const MESSAGE_RETENTION_MS = 30_000;
const RETENTION_SECONDS = 60;
const RETENTION_MS = RETENTION_SECONDS * 1_000;
/** A long pause advances the clock in steps of the re-send backoff's cap: every re-send still happens on time. */
const PAUSE_STEP_MS = POLICY.backoffCapMs;
const PAUSE_DELIVERIES_PER_STEP = 200;

const WRITES: ReadonlySet<PropertyKey> = new Set([
  "create",
  "save",
  "prepare",
  "refuse",
  "commit",
  "rollback",
  "rollbackUnprepared",
  "writeStep",
  "finish",
]);

/**
 * The same store, each call first yielding as `yieldSome` decides (as I/O would,
 * so concurrent handlers interleave), and `afterWrite` run once a write is durable:
 * it may crash the caller there, at a point between any two steps.
 */
function simulatedIo<T extends object>(store: T, yieldSome: () => Promise<void>, afterWrite: () => void): T {
  return new Proxy(store, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver);
      if (typeof value !== "function") return value;
      const isWrite = WRITES.has(key);
      return async (...args: unknown[]) => {
        await yieldSome();
        const result = await value.apply(target, args);
        if (isWrite) afterWrite();
        return result;
      };
    },
  });
}

const describe = (m: CoordinatorMessage | ParticipantMessage): string => {
  switch (m.type) {
    case "vote":
      return `vote(${m.vote}${m.reason ? `:${m.reason}` : ""}${m.inquiry ? ",inquiry" : ""}) ${m.txId} from ${m.participant}`;
    case "ack":
      return `ack(${m.decision}) ${m.txId} from ${m.participant}`;
    case "waiting":
      return `waiting ${m.txId} at ${m.participant} for ${m.holder}`;
    case "prepare":
      return `prepare ${m.txId} to ${m.participant}${m.waits ? ` (wait ${m.waits})` : ""}`;
    case "result":
      return `result(${m.step} ${m.outcome}${m.reason ? `:${m.reason}` : ""}) ${m.txId}#${m.branch} from ${m.participant}`;
    case "action":
      return `action ${m.txId}#${m.branch} ${m.action} to ${m.participant}`;
    case "compensate":
      return `compensate ${m.txId}#${m.branch} ${m.action}${m.atomic ? " (atomic)" : ""} to ${m.participant}`;
    default:
      return `${m.type} ${m.txId} to ${m.participant}`;
  }
};

/** A forced lock policy still takes its draw, so the seed's other draws stay the same. */
const pickPolicy = (drawn: LockPolicy, forced: LockPolicy | undefined) => forced ?? drawn;

/**
 * Whether `id` is on a cycle of waits that hold now: edges the records hold
 * whose holder still locks something at that participant.
 */
function onWaitCycle(
  id: string,
  records: readonly TxRecord[],
  holds: (participant: string, holder: string) => boolean,
): boolean {
  const edges = new Map(
    records.filter(isWaiting).map(
      (tx) =>
        [
          tx.id,
          Object.entries(tx.waits ?? {})
            .filter(([participant, holder]) => holds(participant, holder))
            .map(([, holder]) => holder),
        ] as const,
    ),
  );
  const seen = new Set<string>();
  const reaches = (from: string): boolean => {
    for (const next of edges.get(from) ?? []) {
      if (next === id) return true;
      if (seen.has(next)) continue;
      seen.add(next);
      if (reaches(next)) return true;
    }
    return false;
  };
  return reaches(id);
}

export async function runSimulation(options: SimulationOptions): Promise<SimulationResult> {
  const rng = createRandom(options.seed);
  const tracing = options.trace ?? false;
  const trace: string[] = [];
  let now = START;
  let step = 0;
  const note = (line: () => string) => {
    if (tracing) trace.push(`#${step} t+${now - START}ms ${line()}`);
  };

  const http = options.httpParticipants ?? true;
  // The expiry clock draws from a stream of its own: a seed without it runs as it always did.
  const expiryRng = createRandom(options.seed * 7_919 + 17);
  const faults: FaultModel = {
    servers: rng.between(2, 3),
    lockPolicy: pickPolicy(rng.pick(LOCK_POLICIES), options.lockPolicy),
    // From a stream of its own, so every other draw of a seed stays what it was.
    lockMode: createRandom(options.seed * 104_729 + 3).pick([
      "escrow",
      "escrow",
      "escrow",
      "exclusive",
    ] as const),
    dropRate: rng.pick([0, 0.02, 0.08]),
    duplicateRate: rng.pick([0, 0.05, 0.2]),
    crashRate: rng.pick([0, 0.03, 0.1]),
    sendFailRate: rng.pick([0, 0.02, 0.05]),
    httpFaultRate: http ? rng.pick([0, 0.1, 0.3]) : 0,
    expiry: options.expiry ?? expiryRng.chance(0.25),
  };
  let faulty = true;
  const servers = Array.from({ length: faults.servers }, (_, i) => `bank-${i + 1}`);
  const target = options.transfers ?? rng.between(15, 30);
  const sagaShare = options.sagaShare ?? DEFAULT_SAGA_SHARE;
  const httpName = http ? HTTP_PARTICIPANT : undefined;

  // --- the world: stores, message pool, clock ---
  const txStore: MemoryTransactionStore = createMemoryTransactionStore({ shards: 2 });
  const bank: MemoryParticipantStore<AccountState> = createMemoryParticipantStore(bankModel, {
    retentionSeconds: RETENTION_SECONDS,
  });
  const mutant = options.mutant;
  const mutate = mutant && !isHttpMutant(mutant) ? MUTANTS[mutant] : (s: BankStore) => s;
  const ledger = createLedger();
  // A store call yields a few microtasks first (as I/O would), so concurrent handlers interleave.
  const yieldSome = async () => {
    for (let n = rng.int(3); n > 0; n--) await Promise.resolve();
  };
  const bankStore = simulatedIo(
    (options.wrapBankStore ?? ((s: BankStore) => s))(mutate(ledger.wrap(bank))),
    yieldSome,
    () => crash("after-store-write"),
  );
  // The sweeper aborts a transaction to break a deadlock only while it is on a cycle of waits.
  const checkedStore: TransactionStore = {
    ...txStore,
    async save(tx, expectedVersion) {
      // Read the stored record only for a deadlock abort: every other save goes straight through.
      const before = tx.reason === "deadlock" ? await txStore.get(tx.id) : undefined;
      const breaksDeadlock = tx.reason === "deadlock" && before?.reason !== "deadlock";
      const onCycle =
        breaksDeadlock &&
        before?.version === expectedVersion &&
        onWaitCycle(tx.id, txStore.all(), (participant, holder) =>
          bank.resources().some((r) => r.participant === participant && r.lockedBy === holder),
        );
      await txStore.save(tx, expectedVersion);
      if (breaksDeadlock && !onCycle) {
        violate("deadlock-victim", `${tx.id} aborted as a deadlock victim, but it is on no cycle of waits`);
      }
    },
  };
  const transactions = simulatedIo<TransactionStore>(checkedStore, yieldSome, () =>
    crash("after-store-write"),
  );
  const pool: Envelope[] = [];
  let seq = 0;
  const clock = () => now;

  let violation: Violation | undefined;
  const violate = (invariant: Invariant, detail: string) => {
    violation ??= { invariant, detail };
  };

  const send = async (to: string, body: CoordinatorMessage | ParticipantMessage, delayMs = 0) => {
    if (faulty && rng.chance(faults.sendFailRate)) {
      note(() => `  send failed: ${describe(body)}`);
      throw new SimulatedSendFailure(`send to ${to} failed`);
    }
    const envelope: Envelope = { seq: seq++, sentAt: now, to, body, visibleAt: now + delayMs };
    pool.push(envelope);
    note(() => `  sent m${envelope.seq} ${describe(body)}${delayMs ? ` (delayed ${delayMs}ms)` : ""}`);
  };
  const bus: MessageBus = {
    toCoordinator: (m) => send("coordinator", m),
    toParticipant: (p, m, o) => send(p, m, (o?.delaySeconds ?? 0) * 1_000),
  };

  const crash = (point: SimCrashPoint): void => {
    if (faulty && rng.chance(faults.crashRate)) {
      note(() => `  CRASH at ${point}`);
      throw new SimulatedCrash(point);
    }
  };

  // Errors the use cases log instead of throwing (the sweeper, dispatch) must be simulated faults too.
  const checkLogged = (message: string, fields?: LogFields) => {
    const error = fields && !(fields instanceof Error) ? String(fields.error ?? "") : String(fields ?? "");
    if (!/^(SimulatedCrash|SimulatedSendFailure)/.test(error))
      violate("unexpected-error", `${message}: ${error}`);
  };
  const log: Log = { debug() {}, info() {}, warn() {}, error: checkLogged };

  // A decision, once written, never changes (per incarnation: an id may serve again once its record expired).
  const decided = new Map<string, "commit" | "abort">();
  const onWrite = (tx: TxRecord) => {
    const key = `${tx.id}@${tx.createdAt}`;
    const before = decided.get(key);
    const after = decisionOf(tx.state);
    if (before !== undefined && after !== before) {
      violate("decision-stable", `${tx.id} was decided ${before}, then written as ${tx.state}`);
    }
    if (after !== undefined) decided.set(key, after);
  };

  // The service compensations need, down through a long pause: the bank's provider answers
  // `retry` and the HTTP participant 503 to compensations until it is back.
  let compensationsBlocked = false;
  const externalService = async (call: { readonly step: string }) => {
    if (compensationsBlocked && call.step === "compensation") throw new RetryLaterError("service_down");
  };

  // Lost-race pauses yield instead of sleeping: no timers, so the run stays deterministic.
  const pause = async () => {
    note(() => "  lost a race: re-read and decide again");
    await yieldSome();
  };
  const deps = { store: transactions, bus, clock, log, policy: POLICY, onWrite, crash, pause };
  const coordinator = createCoordinator(deps);
  const sweeper = createSweeper({ ...deps, concurrency: 4 });
  const participants = new Map<string, BankParticipant>(
    servers.map((server) => [
      server,
      createBankParticipant({
        server,
        store: bankStore,
        bus,
        clock,
        log,
        lockPolicy: faults.lockPolicy,
        lockMode: faults.lockMode,
        // A PREPARE that meets a lock re-queues itself at once: no in-process waiting.
        waitBudgetMs: 0,
        inDoubtAfterMs: IN_DOUBT_AFTER_MS,
        crash,
        sleep: pause,
        ...(faults.expiry ? { service: externalService } : {}),
      }),
    ]),
  );

  // The HTTP participant: the real dispatcher, its calls answered by a simulated service.
  let service: SimulatedHttpService | undefined;
  let dispatcher: Dispatcher | undefined;
  if (httpName !== undefined) {
    const httpService = createSimulatedHttpService({
      name: httpName,
      rng,
      fault: () => (faulty && rng.chance(faults.httpFaultRate) ? rng.pick(NETWORK_FAULTS.slice(1)) : "none"),
      record: ledger.record,
      violation: (detail) => violate("agreement", detail),
      afterCall: () => crash("after-http-call"),
      down: (endpoint) => compensationsBlocked && endpoint === "compensate",
      yieldSome,
    });
    const call: typeof httpService.call = async (request) => {
      let outcome = await httpService.call(request);
      if (mutant === "bare-404-acknowledges" && outcome.kind === "response" && outcome.status === 404) {
        outcome = { ...outcome, body: JSON.stringify({ error: { code: UNKNOWN_TRANSACTION } }) };
      }
      note(
        () =>
          `  call ${request.url.pathname} ${request.headers["idempotency-key"]}: ${JSON.stringify(outcome)}`,
      );
      return outcome;
    };
    const registered = {
      name: httpName,
      baseUrl: `https://${httpName}.example/concord`,
      protocols: ["2pc", "saga"] as const,
      createdAt: START,
      version: 1,
    };
    service = httpService;
    const real = createDispatcher({
      registry: {
        get: async (name) =>
          name === httpName ? { ...registered, protocols: [...registered.protocols] } : undefined,
      },
      bus,
      call,
      policy: { allowedHosts: [], allowPrivate: false },
      timeoutMs: HTTP_TIMEOUT_MS,
      clock,
      log,
    });
    dispatcher =
      mutant === "late-prepare-votes-no"
        ? {
            handle: (m) =>
              m.type === "prepare" && now >= m.deadline
                ? bus.toCoordinator({
                    type: "vote",
                    txId: m.txId,
                    participant: m.participant,
                    vote: "no",
                    reason: "timeout",
                  })
                : real.handle(m),
          }
        : real;
  }

  // --- accounts ---
  const initial = new Map<string, number>();
  for (const server of servers) {
    for (const account of ACCOUNT_IDS) {
      const balance = rng.between(0, 200);
      await bank.putResource(server, account, { balance });
      initial.set(`${server}/${account}`, balance);
    }
    await bank.putResource(server, ESCROW, { balance: 0 });
    initial.set(`${server}/${ESCROW}`, 0);
  }

  // --- the client's workload ---
  const clients: ClientTx[] = [];

  async function begin(client: ClientTx, retry: boolean) {
    note(() => `${retry ? "client retries" : "client starts"} ${client.id}`);
    try {
      const { tx } = await beginTransaction(deps, client.request);
      client.unanswered = false;
      tell(client, tx);
    } catch (err) {
      if (!isSimulatedFault(err)) throw err;
      client.unanswered = true;
    }
  }

  /** What the client was told; once an outcome, it may never change. */
  function tell(client: ClientTx, tx: TxRecord) {
    if (client.expired) return;
    const status = statusOf(tx.state);
    note(() => `  client told ${client.id} is ${status}`);
    if (status === "pending") return;
    if (client.told !== undefined && client.told !== status) {
      violate("client-outcome-stable", `${client.id} was ${client.told} to the client, later ${status}`);
    }
    client.told = status;
  }

  // --- the scheduler's steps ---
  const visible = () => pool.filter((e) => e.visibleAt <= now);
  const remove = (envelope: Envelope) => {
    const i = pool.indexOf(envelope);
    if (i >= 0) pool.splice(i, 1);
  };

  /** Runs one handler on a batch; false when it failed (a simulated fault), so the messages stay. */
  async function handle(batch: readonly Envelope[]): Promise<boolean> {
    const first = batch[0] as Envelope;
    try {
      if (first.to === "coordinator") {
        await coordinator.handleGroup(batch.map((e) => coordinatorMessage.parse(e.body)));
      } else if (first.to === httpName && dispatcher) {
        await dispatcher.handle(participantMessage.parse(first.body));
      } else {
        const participant = participants.get(first.to);
        if (!participant) throw new Error(`no participant ${first.to}`);
        await participant.handle(participantMessage.parse(first.body));
      }
      return true;
    } catch (err) {
      if (err instanceof ProtocolViolationError) {
        // The participant's barrier contradicts the decision it was sent.
        violate("agreement", `${describe(first.body)}: ${err.message}`);
      } else if (!isSimulatedFault(err)) {
        violate("unexpected-error", `${describe(first.body)}: ${String(err)}`);
      }
      return false;
    }
  }

  /** Like SQS: deleted after a success (unless delivered again), visible again later after a failure. */
  function settle(batch: readonly Envelope[], ok: boolean) {
    if (!ok) {
      for (const e of batch) e.visibleAt = now + rng.between(0, 2_000);
    } else if (faulty && rng.chance(faults.duplicateRate)) {
      note(() => `  m${batch.map((e) => e.seq).join("+m")} delivered again later (duplicate)`);
    } else {
      for (const e of batch) remove(e);
    }
  }

  async function deliver(envelope: Envelope) {
    if (faulty && rng.chance(faults.dropRate)) {
      remove(envelope);
      note(() => `drop m${envelope.seq} ${describe(envelope.body)}`);
      return;
    }
    let batch = [envelope];
    if (envelope.to === "coordinator" && rng.chance(0.3)) {
      // Lambda hands the coordinator a batch; messages of one transaction are folded into one write.
      const txId = envelope.body.txId;
      const others = visible().filter(
        (e) => e !== envelope && e.to === "coordinator" && e.body.txId === txId,
      );
      batch = [envelope, ...others.slice(0, 3)];
    }
    note(() => `deliver ${batch.map((e) => `m${e.seq} ${describe(e.body)}`).join(" + ")}`);
    settle(batch, await handle(batch));
  }

  /**
   * Two or three deliveries at once (the same message twice, as two pollers may
   * receive it), sometimes beside a sweep: their store calls interleave, so the
   * conditional writes' lost-race paths run.
   */
  async function deliverConcurrently(ready: readonly Envelope[]) {
    const picks = Array.from({ length: rng.between(2, 3) }, () => rng.pick(ready));
    const withSweep = rng.chance(0.3);
    note(
      () =>
        `concurrently: ${picks.map((e) => `m${e.seq} ${describe(e.body)}`).join(" | ")}${withSweep ? " | sweep" : ""}`,
    );
    const runs = picks.map((e) => handle([e]));
    const [results] = await Promise.all([Promise.all(runs), withSweep ? runSweeper() : undefined]);
    picks.forEach((e, i) => {
      settle([e], results[i] ?? false);
    });
  }

  /** A sweeper run; a crash in it (deadlock breaking writes outside its per-transaction guard) ends the run. */
  async function runSweeper() {
    try {
      await sweeper.sweep();
    } catch (err) {
      if (!isSimulatedFault(err)) throw err;
    }
  }

  async function sweep() {
    note(() => "sweep");
    await runSweeper();
  }

  async function inquire(server: string) {
    note(() => `inquiry at ${server}`);
    try {
      await participants.get(server)?.inquire();
    } catch (err) {
      if (!isSimulatedFault(err)) throw err;
    }
  }

  /** An operator's abort or retry (the admin API), on any transaction, in any phase. */
  async function operator(client: ClientTx, action: "abort" | "retry") {
    note(() => `operator ${action}s ${client.id}`);
    try {
      const outcome = await (action === "abort" ? abortTransaction : retryTransaction)(deps, client.id);
      note(() => `  ${outcome.outcome}`);
    } catch (err) {
      if (!isSimulatedFault(err)) throw err;
    }
  }

  /** A request the network held back reaches the service now; its answer goes nowhere. */
  function deliverLate(s: SimulatedHttpService) {
    const what = s.deliverLate();
    note(() => `late request reaches ${s.name}: ${what}`);
  }

  async function poll() {
    const client = rng.pick(clients);
    if (client.expired) return;
    const tx = await txStore.get(client.id);
    note(() => `client polls ${client.id}`);
    if (tx) tell(client, tx);
  }

  // --- the expiry clock ---
  /** Records the TTL deleted, and the ids that may serve again. */
  const expiredRecords: TxRecord[] = [];
  const reusable: string[] = [];
  let pauses = 0;
  let reusedIds = 0;
  /** DynamoDB's TTL deletes an expired item within about two days: here, up to a retention late. */
  const ttlLagMs = expiryRng.pick([0, RETENTION_MS / 2, RETENTION_MS]);

  /** What SQS and DynamoDB's TTL take away by now (TTL deletes late, never early). */
  function expireAll() {
    const before = pool.length;
    for (const e of [...pool]) if (now - e.sentAt > MESSAGE_RETENTION_MS) remove(e);
    if (pool.length < before) note(() => `  ${before - pool.length} messages past the queue's retention`);
    bank.expire(now - ttlLagMs);
    for (const tx of txStore.expire(now - RETENTION_MS)) {
      note(() => `  record ${tx.id} expired`);
      expiredRecords.push(tx);
      reusable.push(tx.id);
      for (const c of clients) if (c.id === tx.id) c.expired = true;
    }
  }

  /**
   * Longer than the retention with nothing going wrong but one thing: the service
   * compensations need is down. Everything else runs (re-sends, deliveries, in-doubt
   * checks, the TTL), so a blocked saga's earlier stages wait past any retention.
   */
  async function longPause() {
    pauses++;
    const until = now + RETENTION_MS + expiryRng.between(1, 30) * 1_000;
    note(() => `long pause of ${until - now}ms: compensations blocked`);
    faulty = false;
    compensationsBlocked = true;
    while (now < until) {
      now += PAUSE_STEP_MS;
      await sweep();
      for (let n = 0; n < PAUSE_DELIVERIES_PER_STEP; n++) {
        const ready = visible();
        if (ready.length === 0) break;
        await deliver(rng.pick(ready));
      }
      for (const server of servers) await inquire(server);
      expireAll();
      stopIfViolated();
    }
    compensationsBlocked = false;
    faulty = true;
    note(() => "pause over");
  }

  /** A new transaction's id: now and then, in a seed with the expiry clock, one whose record expired. */
  function nextId(): string {
    if (faults.expiry && reusable.length > 0 && expiryRng.chance(0.5)) {
      reusedIds++;
      return reusable.splice(expiryRng.int(reusable.length), 1)[0] as string;
    }
    return `tx${clients.length + 1}`;
  }

  const stopIfViolated = () => {
    if (violation) throw new ViolationFound(violation);
  };

  const result = (v: Violation | undefined): SimulationResult => ({
    seed: options.seed,
    ...(v ? { violation: v } : {}),
    transactions: clients.length,
    committed: txStore.all().filter((tx) => tx.state === "committed").length,
    sagas: clients.filter((c) => c.request.protocol === "saga").length,
    compensated: txStore.all().filter((tx) => tx.state === "compensated").length,
    deadlocks: txStore.all().filter((tx) => tx.reason === "deadlock").length,
    steps: step,
    faults,
    trace,
    pauses,
    reusedIds,
  });

  try {
    // --- faults phase ---
    const faultSteps = target * 12;
    for (; step < faultSteps || clients.length < target; step++) {
      if (faults.expiry) {
        expireAll();
        if (expiryRng.chance(1 / 150)) await longPause();
      }
      const roll = rng.int(100);
      const ready = visible();
      if (roll < 12 && clients.length < target) {
        const id = nextId();
        const timeoutMs = rng.between(3, 20) * 1_000;
        const request: BeginRequest = rng.chance(sagaShare)
          ? { id, timeoutMs, ...randomSaga(rng, servers, httpName) }
          : { id, timeoutMs, protocol: "2pc", branches: randomTransfer(rng, servers, httpName) };
        const client: ClientTx = { id, request, unanswered: false };
        clients.push(client);
        await begin(client, false);
      } else if (roll < 54 && ready.length > 0) {
        await deliver(rng.pick(ready));
      } else if (roll < 62 && ready.length > 0) {
        await deliverConcurrently(ready);
      } else if (roll < 72) {
        const by = rng.between(1, 1_500);
        now += by;
        note(() => `clock +${by}ms`);
      } else if (roll < 80) {
        await sweep();
      } else if (roll < 84) {
        await inquire(rng.pick(servers));
      } else if (roll < 92 && clients.length > 0) {
        await poll();
      } else if (roll < 95 && clients.length > 0) {
        await operator(rng.pick(clients), rng.chance(0.5) ? "abort" : "retry");
      } else if (roll < 97 && service && service.late() > 0) {
        deliverLate(service);
      } else if (clients.length > 0) {
        // A client whose record expired has its answer; its id may serve another transaction.
        const live = clients.filter((c) => !c.expired);
        const waiting = live.filter((c) => c.unanswered);
        if (live.length > 0) await begin(rng.pick(waiting.length > 0 ? waiting : live), true);
      }
      stopIfViolated();
    }

    // --- quiet phase: no more faults; deliver everything, sweep until all is final ---
    faulty = false;
    note(() => "--- quiet phase ---");
    for (const client of clients.filter((c) => c.unanswered && !c.expired)) await begin(client, true);
    let quiet = 0;
    for (; quiet < QUIET_STEP_LIMIT; quiet++, step++) {
      if (faults.expiry) expireAll();
      const ready = visible();
      if (service && service.late() > 0 && (ready.length === 0 || rng.chance(0.2))) {
        // Requests the network held back reach the service at last, in any order with the rest.
        deliverLate(service);
      } else if (ready.length > 0) {
        await deliver(rng.pick(ready));
      } else {
        const settled = pool.length === 0 && txStore.all().every((tx) => isFinal(tx.state));
        if (settled) break;
        now += 1_000;
        note(() => "clock +1000ms");
        await sweep();
        for (const server of servers) await inquire(server);
      }
      stopIfViolated();
    }
    if (quiet >= QUIET_STEP_LIMIT) {
      const open = txStore.all().filter((tx) => !isFinal(tx.state));
      violate(
        "liveness",
        `not settled after ${QUIET_STEP_LIMIT} quiet steps: ${open.map((tx) => `${tx.id}=${tx.state}`).join(", ")}; ${pool.length} messages in flight`,
      );
    }
    stopIfViolated();
    for (const client of clients) {
      const tx = await txStore.get(client.id);
      if (tx) tell(client, tx);
    }
    checkFinalState(
      {
        expectedIds: clients.filter((c) => !c.expired).map((c) => c.id),
        records: txStore.all(),
        expired: expiredRecords,
        ...(faults.expiry ? { expiry: { retentionMs: RETENTION_MS, now } } : {}),
        bank,
        initial,
        ledger: ledger.entries,
        ...(service ? { services: [service] } : {}),
      },
      violate,
    );
    stopIfViolated();
    return result(undefined);
  } catch (err) {
    if (err instanceof ViolationFound) return result(err.violation);
    return result({ invariant: "unexpected-error", detail: String(err) });
  }
}
