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
import type { BeginRequest } from "../../src/coordinator/begin-transaction.ts";
import { LOCK_POLICIES, type LockPolicy } from "../../src/core/lock-policy.ts";
import { isReason } from "../../src/core/reasons.ts";
import { type BranchSpec, isFinal, type TxRecord } from "../../src/core/transaction.ts";
import { checkSnapshot } from "../invariants/check.ts";
import {
  type ClientTx,
  DEFAULT_SAGA_SHARE,
  type FaultModel,
  HTTP_PARTICIPANT,
  QUIET_STEP_LIMIT,
  RETENTION_MS,
  type SimState,
  type SimulationOptions,
  type SimulationResult,
  START,
  type Violation,
  ViolationFound,
} from "./model.ts";
import { createRandom } from "./random.ts";
import { createScheduler } from "./scheduler.ts";
import { randomSaga, randomTransfer } from "./workload.ts";
import { buildWorld } from "./world.ts";

/**
 * A 2PC request as the API makes it: one-phase-capable when every branch is at a
 * bank server (the participant kit's), never with the HTTP participant.
 */
const twoPcRequest =
  (servers: readonly string[]) => (id: string, timeoutMs: number, branches: BranchSpec[]) =>
    ({
      id,
      timeoutMs,
      protocol: "2pc",
      branches,
      ...(branches.every((b) => servers.includes(b.participant)) ? { onePhase: true } : {}),
    }) satisfies BeginRequest;

function onePhaseCounts(records: readonly TxRecord[]): SimulationResult["onePhase"] {
  const one = records.filter((tx) => tx.protocol === "2pc" && tx.onePhase);
  return {
    committed: one.filter((tx) => tx.state === "committed").length,
    aborted: one.filter((tx) => tx.state === "aborted").length,
    asked: one.filter((tx) => tx.events.some((e) => e.type === "outcome_asked")).length,
  };
}

/** A forced lock policy still takes its draw, so the seed's other draws stay the same. */
const pickPolicy = (drawn: LockPolicy, forced: LockPolicy | undefined) => forced ?? drawn;

export async function runSimulation(options: SimulationOptions): Promise<SimulationResult> {
  const rng = createRandom(options.seed);
  const tracing = options.trace ?? false;
  const trace: string[] = [];
  const sim: SimState = {
    now: START,
    step: 0,
    faulty: true,
    compensationsBlocked: false,
    violation: undefined,
    note: (line) => {
      if (tracing) trace.push(`#${sim.step} t+${sim.now - START}ms ${line()}`);
    },
    violate: (invariant, detail) => {
      sim.violation ??= { invariant, detail };
    },
    stopIfViolated: () => {
      if (sim.violation) throw new ViolationFound(sim.violation);
    },
  };
  const http = options.httpParticipants ?? true;
  // The expiry clock draws from a stream of its own: a seed without it runs as it always did.
  const expiryRng = createRandom(options.seed * 7_919 + 17);
  // So does the direct answers' path: the seed's other draws stay what they were.
  const directRng = createRandom(options.seed * 65_537 + 11);
  // And self-delivery's.
  const selfRng = createRandom(options.seed * 48_271 + 7);
  const directAnswers = options.directAnswers ?? directRng.chance(0.75);
  // And the vote with its prepare's.
  const voteRng = createRandom(options.seed * 69_621 + 5);
  const faults: FaultModel = {
    servers: rng.between(2, 3),
    lockPolicy: pickPolicy(rng.pick(LOCK_POLICIES), options.lockPolicy),
    // From a stream of its own, so every other draw of a seed stays what it was.
    lockMode:
      options.lockMode ??
      createRandom(options.seed * 104_729 + 3).pick(["escrow", "escrow", "escrow", "exclusive"] as const),
    dropRate: rng.pick([0, 0.02, 0.08]),
    duplicateRate: rng.pick([0, 0.05, 0.2]),
    crashRate: rng.pick([0, 0.03, 0.1]),
    sendFailRate: rng.pick([0, 0.02, 0.05]),
    httpFaultRate: http ? rng.pick([0, 0.1, 0.3]) : 0,
    expiry: options.expiry ?? expiryRng.chance(0.25),
    directAnswers,
    directFailRate: directRng.pick([0, 0.05, 0.2]),
    selfDelivery: directAnswers && (options.selfDelivery ?? selfRng.chance(0.75)),
    selfFailRate: selfRng.pick([0, 0.05, 0.2]),
    voteWithPrepare: directAnswers && (options.voteWithPrepare ?? voteRng.chance(0.75)),
  };
  const servers = Array.from({ length: faults.servers }, (_, i) => `bank-${i + 1}`);
  const target = options.transfers ?? rng.between(15, 30);
  const sagaShare = options.sagaShare ?? DEFAULT_SAGA_SHARE;
  const httpName = http ? HTTP_PARTICIPANT : undefined;
  const twoPc = twoPcRequest(servers);

  const world = await buildWorld(options, sim, rng, faults, servers, httpName, directRng, selfRng);
  const { txStore, pool, service } = world;
  const s = createScheduler(world, sim, rng, expiryRng, faults, servers);
  const { clients } = s;

  const result = (v: Violation | undefined): SimulationResult => ({
    seed: options.seed,
    ...(v ? { violation: v } : {}),
    transactions: clients.length,
    committed: txStore.all().filter((tx) => tx.state === "committed").length,
    sagas: clients.filter((c) => c.request.protocol === "saga").length,
    compensated: txStore.all().filter((tx) => tx.state === "compensated").length,
    deadlocks: txStore.all().filter((tx) => isReason(tx.reason, "deadlock")).length,
    onePhase: onePhaseCounts(txStore.all()),
    restarts: txStore.all().reduce((n, tx) => n + (tx.protocol === "2pc" ? (tx.attempt ?? 0) : 0), 0),
    wakeUps: world.wakeUps(),
    ownCommits: world.ownCommits(),
    votesWithPrepare: world.votesWithPrepare(),
    steps: sim.step,
    faults,
    trace,
    pauses: s.pauses(),
    reusedIds: s.reusedIds(),
  });

  try {
    // --- faults phase ---
    const faultSteps = target * 12;
    for (; sim.step < faultSteps || clients.length < target; sim.step++) {
      if (faults.expiry) {
        s.expireAll();
        if (expiryRng.chance(1 / 150)) await s.longPause();
      }
      const roll = rng.int(100);
      const ready = s.visible();
      if (roll < 12 && clients.length < target) {
        const id = s.nextId();
        const timeoutMs = rng.between(3, 20) * 1_000;
        const request: BeginRequest = rng.chance(sagaShare)
          ? { id, timeoutMs, ...randomSaga(rng, servers, httpName) }
          : twoPc(id, timeoutMs, randomTransfer(rng, servers, httpName));
        const client: ClientTx = { id, request, unanswered: false };
        clients.push(client);
        await s.begin(client, false);
      } else if (roll < 54 && ready.length > 0) {
        await s.deliver(rng.pick(ready));
      } else if (roll < 62 && ready.length > 0) {
        await s.deliverConcurrently(ready);
      } else if (roll < 72) {
        const by = rng.between(1, 1_500);
        sim.now += by;
        sim.note(() => `clock +${by}ms`);
      } else if (roll < 80) {
        await s.sweep();
      } else if (roll < 84) {
        await s.inquire(rng.pick(servers));
      } else if (roll < 92 && clients.length > 0) {
        await s.poll();
      } else if (roll < 95 && clients.length > 0) {
        await s.operator(rng.pick(clients), rng.chance(0.5) ? "abort" : "retry");
      } else if (roll < 97 && service && service.late() > 0) {
        s.deliverLate(service);
      } else if (clients.length > 0) {
        // A client whose record expired has its answer; its id may serve another transaction.
        const live = clients.filter((c) => !c.expired);
        const waiting = live.filter((c) => c.unanswered);
        if (live.length > 0) await s.begin(rng.pick(waiting.length > 0 ? waiting : live), true);
      }
      sim.stopIfViolated();
    }

    // --- quiet phase: no more faults; deliver everything, sweep until all is final ---
    sim.faulty = false;
    sim.note(() => "--- quiet phase ---");
    for (const client of clients.filter((c) => c.unanswered && !c.expired)) await s.begin(client, true);
    let quiet = 0;
    for (; quiet < QUIET_STEP_LIMIT; quiet++, sim.step++) {
      if (faults.expiry) s.expireAll();
      const ready = s.visible();
      if (service && service.late() > 0 && (ready.length === 0 || rng.chance(0.2))) {
        // Requests the network held back reach the service at last, in any order with the rest.
        s.deliverLate(service);
      } else if (ready.length > 0) {
        await s.deliver(rng.pick(ready));
      } else {
        const settled = pool.length === 0 && txStore.all().every((tx) => isFinal(tx.state));
        if (settled) break;
        sim.now += 1_000;
        sim.note(() => "clock +1000ms");
        await s.sweep();
        for (const server of servers) await s.inquire(server);
      }
      sim.stopIfViolated();
    }
    if (quiet >= QUIET_STEP_LIMIT) {
      const open = txStore.all().filter((tx) => !isFinal(tx.state));
      sim.violate(
        "liveness",
        `not settled after ${QUIET_STEP_LIMIT} quiet steps: ${open.map((tx) => `${tx.id}=${tx.state}`).join(", ")}; ${pool.length} messages in flight`,
      );
    }
    sim.stopIfViolated();
    for (const client of clients) {
      const tx = await txStore.get(client.id);
      if (tx) s.tell(client, tx);
    }
    const services = service ? [service] : [];
    checkSnapshot(
      {
        expectedIds: clients.filter((c) => !c.expired).map((c) => c.id),
        records: txStore.all(),
        expired: s.expiredRecords,
        ...(faults.expiry ? { expiry: { retentionMs: RETENTION_MS, now: sim.now } } : {}),
        accounts: world.bank.resources().map((r) => ({
          participant: r.participant,
          id: r.id,
          balance: r.state?.balance ?? 0,
          lockedBy: r.lockedBy,
          hold: r.holds?.balance,
          waiters: world.bank
            .waiters()
            .filter((w) => w.participant === r.participant && w.id === r.id)
            .map((w) => w.txId),
        })),
        barriers: [...world.bank.barriers(), ...services.flatMap((x) => x.barriers())],
        steps: [...world.bank.steps(), ...services.flatMap((x) => x.steps())],
        initial: world.initial,
        ledger: world.ledger.entries,
      },
      sim.violate,
    );
    sim.stopIfViolated();
    return result(undefined);
  } catch (err) {
    if (err instanceof ViolationFound) return result(err.violation);
    return result({ invariant: "unexpected-error", detail: String(err) });
  }
}
