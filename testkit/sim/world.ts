/**
 * The world a simulated run happens in: the in-memory stores behind simulated
 * I/O (each call may yield, each write may crash its caller), the message pool
 * standing in for SQS, the real coordinator, sweeper, bank participants and
 * HTTP dispatcher, and the accounts' opening balances.
 */
import { createCoordinator } from "../../src/coordinator/coordinator.ts";
import { createDirectInbox } from "../../src/coordinator/direct-inbox.ts";
import { messageFor } from "../../src/coordinator/dispatch.ts";
import { createRecordCache } from "../../src/coordinator/record-cache.ts";
import { createSweeper } from "../../src/coordinator/sweeper.ts";
import { decisionOf } from "../../src/core/atomic-group.ts";
import type { CoordinatorMessage, ParticipantMessage, VoteMessage } from "../../src/core/messages.ts";
import { isReason } from "../../src/core/reasons.ts";
import { commitsAt, isWaiting, type TxRecord } from "../../src/core/transaction.ts";
import { decides } from "../../src/core/transitions.ts";
import { createDispatcher, type Dispatcher } from "../../src/http-participants/dispatcher.ts";
import { UNKNOWN_TRANSACTION } from "../../src/http-participants/http-protocol.ts";
import { RetryLaterError } from "../../src/participant-kit/errors.ts";
import { createParticipant, type Participant } from "../../src/participant-kit/participant.ts";
import { type AccountState, bankModel } from "../../src/participants/bank/bank-rules.ts";
import type { BankStore } from "../../src/participants/bank/bank-store.ts";
import type { OwnPrepare } from "../../src/ports/alongside.ts";
import type { VoteWithPrepare } from "../../src/ports/coordinator-inbox.ts";
import type { MessageBus } from "../../src/ports/message-bus.ts";
import type { TransactionStore } from "../../src/ports/transaction-store.ts";
import { deliveringToSelf, holdForSelf, offerOwnCommit, ownCommitOffered } from "../../src/self-delivery.ts";
import { RecordingLogger } from "../logging.ts";
import { asMemory } from "../memory/memory-alongside.ts";
import {
  createMemoryParticipantStore,
  type MemoryParticipantStore,
} from "../memory/memory-participant-store.ts";
import {
  createMemoryTransactionStore,
  type MemoryTransactionStore,
} from "../memory/memory-transaction-store.ts";
import { createSimulatedHttpService, NETWORK_FAULTS, type SimulatedHttpService } from "./http-service.ts";
import { createLedger, type Ledger } from "./ledger.ts";
import {
  describe,
  type Envelope,
  type FaultModel,
  HTTP_TIMEOUT_MS,
  IN_DOUBT_AFTER_MS,
  POLICY,
  RETENTION_SECONDS,
  type SimCrashPoint,
  type SimState,
  SimulatedCrash,
  SimulatedSendFailure,
  SimulatedStoreFailure,
  type SimulationOptions,
  START,
} from "./model.ts";
import { isBankMutant, MUTANTS } from "./mutants.ts";
import type { Random } from "./random.ts";
import { ACCOUNT_IDS, ESCROW } from "./workload.ts";

const WRITES: ReadonlySet<PropertyKey> = new Set([
  "create",
  "update",
  "prepare",
  "refuse",
  "commit",
  "commitOnePhase",
  "rollback",
  "rollbackUnprepared",
  "addWaiter",
  "takeWaiters",
  "writeStep",
  "finish",
]);

/** A participant store's parts for another store's write: built, not called; written there. */
const PART_BUILDERS = new Set<string | symbol>([
  "commitAlongside",
  "prepareAlongside",
  "commitOnePhaseAlongside",
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
      // A part built for another store's write (a commit alongside) is no call: it is written there.
      if (PART_BUILDERS.has(key)) return value;
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

/**
 * The `one-phase-aborts-alone` coordinator: the write that would ask a one-phase
 * participant for its outcome decides abort instead (the ROLLBACK still goes out).
 */
function abortsAlone(before: TxRecord, next: TxRecord, now: number): TxRecord {
  if (next.protocol !== "2pc" || next.resolving === undefined || before.protocol !== "2pc") return next;
  if (before.resolving !== undefined) return next;
  const { resolving, dueAt: _d, ...rest } = next;
  return { ...rest, state: "aborted", reason: resolving, decidedAt: now, completedAt: now };
}

export interface World {
  readonly txStore: MemoryTransactionStore;
  readonly bank: MemoryParticipantStore<AccountState>;
  readonly ledger: Ledger;
  /** Messages sent and not yet deleted, as SQS holds them. */
  readonly pool: Envelope[];
  /** `released` messages sent so far: waiters woken by a release. */
  wakeUps(): number;
  /** Decisions written with the last voter's commit beside them. */
  ownCommits(): number;
  votesWithPrepare(): { readonly prepared: number; readonly committed: number };
  /** What the use cases are given: the transaction store behind simulated I/O, the bus, the clock... */
  readonly deps: Parameters<typeof createCoordinator>[0];
  readonly coordinator: ReturnType<typeof createCoordinator>;
  readonly sweeper: ReturnType<typeof createSweeper>;
  readonly participants: ReadonlyMap<string, Participant>;
  readonly httpName: string | undefined;
  readonly service: SimulatedHttpService | undefined;
  readonly dispatcher: Dispatcher | undefined;
  /** Every account's balance before the run, by `server/account`. */
  readonly initial: ReadonlyMap<string, number>;
}

export async function buildWorld(
  options: SimulationOptions,
  sim: SimState,
  rng: Random,
  faults: FaultModel,
  servers: readonly string[],
  httpName: string | undefined,
  directRng: Random,
  selfRng: Random,
): Promise<World> {
  const txStore: MemoryTransactionStore = createMemoryTransactionStore({ shards: 2 });
  const bank: MemoryParticipantStore<AccountState> = createMemoryParticipantStore(bankModel, {
    retentionSeconds: RETENTION_SECONDS,
  });
  const mutant = options.mutant;
  const mutate = isBankMutant(mutant) ? MUTANTS[mutant] : (s: BankStore) => s;
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
  // A deadlock is broken (restart or abort) only for a transaction on a cycle of waits.
  // Read the stored record only for a deadlock abort: every other write goes straight through.
  // A victim is restarted (`restarting: deadlock`) while its deadline allows, else aborted.
  const brokenFor = (tx: TxRecord | undefined) =>
    isReason(tx?.reason, "deadlock") || (tx?.protocol === "2pc" && isReason(tx.restarting, "deadlock"));
  const checkDeadlockAbort = async (tx: TxRecord, expectedVersion: number, write: () => Promise<boolean>) => {
    const deadlock = brokenFor(tx);
    const before = deadlock ? await txStore.get(tx.id) : undefined;
    const breaksDeadlock = deadlock && !brokenFor(before);
    const onCycle =
      breaksDeadlock &&
      before?.version === expectedVersion &&
      onWaitCycle(tx.id, txStore.all(), (participant, holder) =>
        bank.resources().some((r) => r.participant === participant && r.lockedBy === holder),
      );
    const written = await write();
    if (written && breaksDeadlock && !onCycle) {
      sim.violate("deadlock-victim", `${tx.id} aborted as a deadlock victim, but it is on no cycle of waits`);
    }
  };
  const checkedStore: TransactionStore = {
    ...txStore,
    async update(before, asked, alongside) {
      const next = mutant === "one-phase-aborts-alone" ? abortsAlone(before, asked, sim.now) : asked;
      let outcome: Awaited<ReturnType<TransactionStore["update"]>> = { saved: false, current: undefined };
      await checkDeadlockAbort(next, before.version, async () => {
        outcome = await txStore.update(before, next, alongside);
        return outcome.saved;
      });
      return outcome;
    },
  };
  const transactions = simulatedIo<TransactionStore>(checkedStore, yieldSome, () =>
    crash("after-store-write"),
  );
  const pool: Envelope[] = [];
  let seq = 0;
  let wakeUps = 0;
  const clock = () => sim.now;

  const send = async (to: string, body: CoordinatorMessage | ParticipantMessage, delayMs = 0) => {
    if (sim.faulty && rng.chance(faults.sendFailRate)) {
      sim.note(() => `  send failed: ${describe(body)}`);
      throw new SimulatedSendFailure(`send to ${to} failed`);
    }
    const envelope: Envelope = { seq: seq++, sentAt: sim.now, to, body, visibleAt: sim.now + delayMs };
    pool.push(envelope);
    sim.note(() => `  sent m${envelope.seq} ${describe(body)}${delayMs ? ` (delayed ${delayMs}ms)` : ""}`);
  };
  const bus: MessageBus = {
    toCoordinator: (m) => send("coordinator", m),
    toParticipant: (p, m, o) => send(p, m, (o?.delaySeconds ?? 0) * 1_000),
  };

  const crash = (point: SimCrashPoint): void => {
    if (sim.faulty && rng.chance(faults.crashRate)) {
      sim.note(() => `  CRASH at ${point}`);
      throw new SimulatedCrash(point);
    }
  };

  // Errors the use cases log instead of throwing (the sweeper, dispatch) must be simulated faults too.
  const log = new RecordingLogger(({ level, message, fields }) => {
    if (level !== "error") return;
    const error =
      fields && typeof fields === "object" && !(fields instanceof Error)
        ? String((fields as { error?: unknown }).error ?? "")
        : String(fields ?? "");
    if (!/^(SimulatedCrash|SimulatedSendFailure)/.test(error))
      sim.violate("unexpected-error", `${message}: ${error}`);
  });

  // A decision, once written, never changes (per incarnation: an id may serve again once its record expired).
  const decided = new Map<string, "commit" | "abort">();
  const onWrite = (tx: TxRecord) => {
    const key = `${tx.id}@${tx.createdAt}`;
    const before = decided.get(key);
    const after = decisionOf(tx.state);
    if (before !== undefined && after !== before) {
      sim.violate("decision-stable", `${tx.id} was decided ${before}, then written as ${tx.state}`);
    }
    if (after !== undefined) decided.set(key, after);
  };

  // The service compensations need, down through a long pause: the bank's provider answers
  // `retry` and the HTTP participant 503 to compensations until it is back.
  const externalService = async (call: { readonly step: string }) => {
    if (sim.compensationsBlocked && call.step === "compensation") throw new RetryLaterError("service_down");
  };

  // Lost-race pauses yield instead of sleeping: no timers, so the run stays deterministic.
  const pause = async () => {
    sim.note(() => "  lost a race: re-read and decide again");
    await yieldSome();
  };
  const deps = { store: transactions, bus, clock, log, policy: POLICY, onWrite, crash, pause };
  // The coordinator keeps the records it wrote, as a warm process does; the sweeper's writes make them stale.
  const coordinator = createCoordinator({ ...deps, records: createRecordCache() });
  const sweeper = createSweeper({ ...deps, concurrency: 4 });

  /**
   * What the coordinator's handling sends in a participant's handler: a message to
   * that participant itself is held for it (self-delivery), the rest sent.
   */
  const holdingBus: MessageBus = {
    toCoordinator: bus.toCoordinator,
    toParticipant: (p, m, o) => {
      if (o?.delaySeconds || !holdForSelf(p, m)) return bus.toParticipant(p, m, o);
      sim.note(() => `  held for self ${describe(m)}`);
      return Promise.resolve();
    },
  };
  /** The `self-delivery-before-durable` mutant: a decision's messages held before its write. */
  const handOverEarly = (next: TxRecord) => {
    if (next.protocol !== "2pc") return;
    const decision = next.state === "committing" || next.state === "committed" ? "commit" : "abort";
    for (const p of next.participants) {
      const m = messageFor(next, { kind: "decision", participant: p.name, decision });
      if (holdForSelf(p.name, m)) sim.note(() => `  held for self before the write ${describe(m)}`);
    }
  };
  /**
   * A participant's (or the dispatcher's) handler: with self-delivery, it then
   * handles what was held for it, the real wrapper over the real handler. Between
   * holding and handling, the process may die (a crash: the message is lost, as a
   * lost SQS message is) or the handling fail (it goes through the queue).
   */
  const selfDelivering = <H extends { handle: (m: ParticipantMessage) => Promise<void> }>(handler: H): H => {
    if (!faults.selfDelivery) return handler;
    const handle = deliveringToSelf(handler.handle, {
      fallback: bus.toParticipant,
      log,
      keysOf: (m) => ({ txId: m.txId }),
      crash: (point) => {
        crash(point);
        if (sim.faulty && selfRng.chance(faults.selfFailRate)) {
          sim.note(() => "  self-delivery failed: through the queue");
          throw new SimulatedStoreFailure("self-delivery failed");
        }
      },
      fatal: (err) => err instanceof SimulatedCrash,
      // As the roles set it: woken PREPAREs by age under detect.
      oldestFirst: faults.lockPolicy === "detect",
    });
    return { ...handler, handle };
  };

  /** The bus a participant (or the dispatcher) answers on; see `directOrQueued`. */
  const answeringBus = (who: string): MessageBus => counted(directOrQueued(who));
  /** Wake-ups counted as the participant sends them, direct or through the queue. */
  const counted = (inner: MessageBus): MessageBus => ({
    toCoordinator: async (m) => {
      await inner.toCoordinator(m);
      if (m.type === "released") wakeUps++;
    },
    toParticipant: inner.toParticipant,
  });
  /**
   * The bus a participant (or the dispatcher) answers on. With direct answers,
   * the real direct inbox over a coordinator's handling of the participant's own
   * process (its own record cache, as a separate Lambda container holds), on the
   * transaction store behind simulated I/O (a crash after any write), whose calls
   * also fail now and then, before or after the write is durable: then the answer
   * must go through the coordinator queue. A crash ends the handler, no fallback.
   */
  /** Each answering process's direct inbox, where its votes with their prepare are applied. */
  const inboxes = new Map<string, VoteWithPrepare>();
  const directOrQueued = (who: string): MessageBus => {
    if (!faults.directAnswers) return bus;
    const fails = (what: string): boolean => {
      if (!sim.faulty || !directRng.chance(faults.directFailRate)) return false;
      sim.note(() => `  direct ${what} failed at ${who}`);
      return true;
    };
    const flaky: TransactionStore = {
      ...transactions,
      async get(id) {
        if (fails("read")) throw new SimulatedStoreFailure(`read of ${id} failed`);
        return transactions.get(id);
      },
      async update(before, next, alongside) {
        if (fails("write (nothing written)")) throw new SimulatedStoreFailure(`write of ${next.id} failed`);
        if (mutant === "self-delivery-before-durable" && decides(before, next)) handOverEarly(next);
        const stored = mutant === "direct-blind-write" ? await transactions.get(next.id) : before;
        const over = stored ?? before;
        if (alongside) sim.note(() => `  a participant's write in the record's write of ${next.id}`);
        const apart = mutant === "commit-alongside-apart" && alongside !== undefined;
        const voteFirst = mutant === "vote-before-its-prepare" && alongside !== undefined;
        if (apart) {
          const part = asMemory(alongside);
          part.check();
          part.apply();
          // Two writes: the process may die between them, as after any write.
          crash("after-store-write");
        }
        const outcome = await transactions.update(
          over,
          { ...next, version: over.version + 1 },
          apart || voteFirst ? undefined : alongside,
        );
        if (voteFirst && outcome.saved) {
          // Two writes, the record's first: the process may die between them, and a part refused
          // now is not written at all (the broken build goes on without it).
          crash("after-store-write");
          const part = asMemory(alongside);
          try {
            part.check();
            part.apply();
          } catch (err) {
            sim.note(() => `  the participant's part refused after the record's write: ${String(err)}`);
          }
        }
        if (fails("write (written, answer lost)"))
          throw new SimulatedStoreFailure(`answer for ${next.id} lost`);
        return outcome;
      },
    };
    const handling = createCoordinator({
      ...deps,
      store: flaky,
      records: createRecordCache(),
      ownCommit: ownCommitOffered,
      ...(faults.selfDelivery ? { bus: holdingBus } : {}),
    });
    const inbox = createDirectInbox({
      handleGroup: handling.handleGroup,
      handleVoteWithPrepare: handling.handleVoteWithPrepare,
      fallback: { toCoordinator: (m) => send("coordinator", m) },
      log,
      fatal: (err) => err instanceof SimulatedCrash,
    });
    inboxes.set(who, inbox);
    return {
      toCoordinator: (m) => {
        sim.note(() => `  direct ${describe(m)} at ${who}`);
        return inbox.toCoordinator(m);
      },
      toParticipant: bus.toParticipant,
    };
  };

  const participants = new Map<string, Participant>(
    servers.map((server, index) => [
      server,
      selfDelivering(
        createParticipant({
          name: server,
          model: bankModel,
          store: bankStore,
          bus: answeringBus(server),
          clock,
          log,
          lockPolicy: faults.lockPolicy,
          lockMode: faults.lockMode,
          // A PREPARE that meets a lock registers as a waiter at once: no in-process waiting.
          waitBudgetMs: 0,
          inDoubtAfterMs: IN_DOUBT_AFTER_MS,
          crash,
          sleep: pause,
          // Every other server fronts the service (a participant with one prepares by reading
          // first), so the blind prepare meets reused ids and expired barriers on the others.
          ...(faults.expiry && index % 2 === 0 ? { service: externalService } : {}),
          // With self-delivery, the last voter's commit is written with the decision it makes.
          ...(faults.selfDelivery ? { offerCommit: offerOwnCommit } : {}),
          // With direct answers, a yes vote written with the prepare it stands on.
          ...(faults.voteWithPrepare
            ? {
                voteWithPrepare: (vote: VoteMessage, own: OwnPrepare) => {
                  sim.note(() => `  vote with its prepare ${describe(vote)} at ${server}`);
                  return inboxes.get(server)?.voteWithPrepare(vote, own) ?? Promise.resolve();
                },
              }
            : {}),
          holderCommits: async (txId, startedAt, attempt) => {
            const tx = await txStore.get(txId);
            return tx !== undefined && commitsAt(tx, startedAt, attempt);
          },
          fatal: (err) => err instanceof SimulatedCrash,
        }),
      ),
    ]),
  );

  // The HTTP participant: the real dispatcher, its calls answered by a simulated service.
  let service: SimulatedHttpService | undefined;
  let dispatcher: Dispatcher | undefined;
  if (httpName !== undefined) {
    const httpService = createSimulatedHttpService({
      name: httpName,
      rng,
      fault: () =>
        sim.faulty && rng.chance(faults.httpFaultRate) ? rng.pick(NETWORK_FAULTS.slice(1)) : "none",
      record: ledger.record,
      violation: (detail) => sim.violate("agreement", detail),
      afterCall: () => crash("after-http-call"),
      down: (endpoint) => sim.compensationsBlocked && endpoint === "compensate",
      yieldSome,
    });
    const call: typeof httpService.call = async (request) => {
      let outcome = await httpService.call(request);
      if (mutant === "bare-404-acknowledges" && outcome.kind === "response" && outcome.status === 404) {
        outcome = { ...outcome, body: JSON.stringify({ error: { code: UNKNOWN_TRANSACTION } }) };
      }
      sim.note(
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
    const httpBus = answeringBus(httpName);
    const real = createDispatcher({
      registry: {
        get: async (name) =>
          name === httpName ? { ...registered, protocols: [...registered.protocols] } : undefined,
      },
      bus: httpBus,
      call,
      policy: { allowedHosts: [], allowPrivate: false },
      timeoutMs: HTTP_TIMEOUT_MS,
      clock,
      log,
    });
    dispatcher = selfDelivering(
      mutant === "late-prepare-votes-no"
        ? {
            handle: (m) =>
              m.type === "prepare" && sim.now >= m.deadline
                ? httpBus.toCoordinator({
                    type: "vote",
                    txId: m.txId,
                    participant: m.participant,
                    vote: "no",
                    reason: "timeout",
                  })
                : real.handle(m),
          }
        : real,
    );
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

  return {
    txStore,
    bank,
    ledger,
    wakeUps: () => wakeUps,
    ownCommits: () => ledger.alongside.ownCommits,
    votesWithPrepare: () => ({ prepared: ledger.alongside.prepared, committed: ledger.alongside.committed }),
    pool,
    deps,
    coordinator,
    sweeper,
    participants,
    httpName,
    service,
    dispatcher,
    initial,
  };
}
