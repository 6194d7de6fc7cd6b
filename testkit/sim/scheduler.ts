/**
 * The scheduler's steps: the client's begins, retries and polls, deliveries
 * (one, a batch, or several at once), sweeps, in-doubt inquiries, an operator's
 * abort or retry, late HTTP requests, and the expiry clock (SQS retention,
 * DynamoDB's TTL, long pauses, ids used again).
 */
import { abortTransaction, retryTransaction } from "../../src/coordinator/admin.ts";
import { beginTransaction } from "../../src/coordinator/begin-transaction.ts";
import { coordinatorMessage, participantMessage } from "../../src/core/messages.ts";
import type { TxRecord } from "../../src/core/transaction.ts";
import { statusOf } from "../../src/core/view.ts";
import { ProtocolViolationError } from "../../src/participant-kit/errors.ts";
import type { SimulatedHttpService } from "./http-service.ts";
import {
  type ClientTx,
  describe,
  type Envelope,
  type FaultModel,
  isSimulatedFault,
  MESSAGE_RETENTION_MS,
  PAUSE_DELIVERIES_PER_STEP,
  PAUSE_STEP_MS,
  RETENTION_MS,
  type SimState,
} from "./model.ts";
import type { Random } from "./random.ts";
import type { World } from "./world.ts";

export type Scheduler = ReturnType<typeof createScheduler>;

export function createScheduler(
  world: World,
  sim: SimState,
  rng: Random,
  expiryRng: Random,
  faults: FaultModel,
  servers: readonly string[],
) {
  const { txStore, bank, pool, deps, coordinator, sweeper, participants, httpName, dispatcher } = world;
  // --- the client's workload ---
  const clients: ClientTx[] = [];

  async function begin(client: ClientTx, retry: boolean) {
    sim.note(() => `${retry ? "client retries" : "client starts"} ${client.id}`);
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
    sim.note(() => `  client told ${client.id} is ${status}`);
    if (status === "pending") return;
    if (client.told !== undefined && client.told !== status) {
      sim.violate("client-outcome-stable", `${client.id} was ${client.told} to the client, later ${status}`);
    }
    client.told = status;
  }

  // --- the scheduler's steps ---
  const visible = () => pool.filter((e) => e.visibleAt <= sim.now);
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
        sim.violate("agreement", `${describe(first.body)}: ${err.message}`);
      } else if (!isSimulatedFault(err)) {
        sim.violate("unexpected-error", `${describe(first.body)}: ${String(err)}`);
      }
      return false;
    }
  }

  /** Like SQS: deleted after a success (unless delivered again), visible again later after a failure. */
  function settle(batch: readonly Envelope[], ok: boolean) {
    if (!ok) {
      for (const e of batch) e.visibleAt = sim.now + rng.between(0, 2_000);
    } else if (sim.faulty && rng.chance(faults.duplicateRate)) {
      sim.note(() => `  m${batch.map((e) => e.seq).join("+m")} delivered again later (duplicate)`);
    } else {
      for (const e of batch) remove(e);
    }
  }

  async function deliver(envelope: Envelope) {
    if (sim.faulty && rng.chance(faults.dropRate)) {
      remove(envelope);
      sim.note(() => `drop m${envelope.seq} ${describe(envelope.body)}`);
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
    sim.note(() => `deliver ${batch.map((e) => `m${e.seq} ${describe(e.body)}`).join(" + ")}`);
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
    sim.note(
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
    sim.note(() => "sweep");
    await runSweeper();
  }

  async function inquire(server: string) {
    sim.note(() => `inquiry at ${server}`);
    try {
      await participants.get(server)?.inquire();
    } catch (err) {
      if (!isSimulatedFault(err)) throw err;
    }
  }

  /** An operator's abort or retry (the admin API), on any transaction, in any phase. */
  async function operator(client: ClientTx, action: "abort" | "retry") {
    sim.note(() => `operator ${action}s ${client.id}`);
    try {
      const outcome = await (action === "abort" ? abortTransaction : retryTransaction)(deps, client.id);
      sim.note(() => `  ${outcome.outcome}`);
    } catch (err) {
      if (!isSimulatedFault(err)) throw err;
    }
  }

  /** A request the network held back reaches the service now; its answer goes nowhere. */
  function deliverLate(s: SimulatedHttpService) {
    const what = s.deliverLate();
    sim.note(() => `late request reaches ${s.name}: ${what}`);
  }

  async function poll() {
    const client = rng.pick(clients);
    if (client.expired) return;
    const tx = await txStore.get(client.id);
    sim.note(() => `client polls ${client.id}`);
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
    for (const e of [...pool]) if (sim.now - e.sentAt > MESSAGE_RETENTION_MS) remove(e);
    if (pool.length < before) sim.note(() => `  ${before - pool.length} messages past the queue's retention`);
    bank.expire(sim.now - ttlLagMs);
    for (const tx of txStore.expire(sim.now - RETENTION_MS)) {
      sim.note(() => `  record ${tx.id} expired`);
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
    const until = sim.now + RETENTION_MS + expiryRng.between(1, 30) * 1_000;
    sim.note(() => `long pause of ${until - sim.now}ms: compensations blocked`);
    sim.faulty = false;
    sim.compensationsBlocked = true;
    while (sim.now < until) {
      sim.now += PAUSE_STEP_MS;
      await sweep();
      for (let n = 0; n < PAUSE_DELIVERIES_PER_STEP; n++) {
        const ready = visible();
        if (ready.length === 0) break;
        await deliver(rng.pick(ready));
      }
      for (const server of servers) await inquire(server);
      expireAll();
      sim.stopIfViolated();
    }
    sim.compensationsBlocked = false;
    sim.faulty = true;
    sim.note(() => "pause over");
  }

  /** A new transaction's id: now and then, in a seed with the expiry clock, one whose record expired. */
  function nextId(): string {
    if (faults.expiry && reusable.length > 0 && expiryRng.chance(0.5)) {
      reusedIds++;
      return reusable.splice(expiryRng.int(reusable.length), 1)[0] as string;
    }
    return `tx${clients.length + 1}`;
  }

  return {
    clients,
    expiredRecords,
    begin,
    visible,
    deliver,
    deliverConcurrently,
    sweep,
    inquire,
    operator,
    deliverLate,
    poll,
    expireAll,
    tell,
    longPause,
    nextId,
    pauses: () => pauses,
    reusedIds: () => reusedIds,
  };
}
