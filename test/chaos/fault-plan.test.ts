/** The fault plan's decisions and the chaos run's schedules are a pure function of the seed; its snapshot is read in an order that agrees. */
import { describe, expect, it } from "vitest";
import type { AwsClients } from "../../src/adapters/aws-clients.ts";
import { ConfigError, loadConfig } from "../../src/config.ts";
import type { CoordinatorMessage } from "../../src/core/messages.ts";
import type { MessageBus } from "../../src/ports/message-bus.ts";
import { readState } from "../../testkit/chaos/checker.ts";
import { killSchedule, type RoleKey } from "../../testkit/chaos/supervisor.ts";
import { accountsOf, transferSpecs } from "../../testkit/chaos/workload.ts";
import {
  type FaultPlan,
  FaultPlanError,
  fateSource,
  faultyBus,
  parseFaultPlan,
  parseFaultPlanText,
  seededRandom,
} from "../../testkit/faults/fault-plan.ts";

const plan = (seed: number): FaultPlan => parseFaultPlan({ seed, drop: 0.1, dup: 0.1, delayMs: 500 });
const fates = (seed: number, n: number) => {
  const next = fateSource(plan(seed), seededRandom(seed));
  return Array.from({ length: n }, () => next().delays);
};
const roles: RoleKey[] = ["coordinator", "bank-1", "bank-2", "sweeper", "api"];

describe("fault plan", () => {
  it("gives the same drops, copies and delays for the same seed, and others for another", () => {
    expect(fates(42, 500)).toEqual(fates(42, 500));
    expect(fates(42, 500)).not.toEqual(fates(43, 500));
    const all = fates(42, 5000);
    const dropped = all.filter((d) => d.length === 0).length;
    const doubled = all.filter((d) => d.length === 2).length;
    expect(dropped / all.length).toBeGreaterThan(0.07);
    expect(dropped / all.length).toBeLessThan(0.13);
    expect(doubled / all.length).toBeGreaterThan(0.07);
    expect(all.flat().every((ms) => ms >= 0 && ms <= 500)).toBe(true);
  });

  it("gives the same kill schedule and workload for the same seed", () => {
    const steps = (seed: number) => {
      const next = killSchedule(seed, roles, true);
      return Array.from({ length: 50 }, next);
    };
    expect(steps(7)).toEqual(steps(7));
    expect(steps(7)).not.toEqual(steps(8));
    const accounts = accountsOf(4, 32);
    expect(transferSpecs(7, 100, accounts, 100)).toEqual(transferSpecs(7, 100, accounts, 100));
  });

  it("drops, duplicates and delays sends through the bus", async () => {
    const sent: string[] = [];
    const inner: MessageBus = {
      toCoordinator: async (m) => {
        sent.push(m.txId);
      },
      toParticipant: async () => {},
    };
    const stats = { sends: 0, dropped: 0, duplicated: 0, delayed: 0 };
    const bus = faultyBus(
      inner,
      parseFaultPlan({ seed: 3, drop: 0.2, dup: 0.2, delayMs: 0 }),
      undefined,
      stats,
    );
    for (let i = 0; i < 1000; i++)
      await bus.toCoordinator({ txId: `t${i}` } as unknown as CoordinatorMessage);
    expect(stats.sends).toBe(1000);
    expect(sent.length).toBe(1000 - stats.dropped + stats.duplicated);
    expect(stats.dropped).toBeGreaterThan(150);
    expect(stats.duplicated).toBeGreaterThan(100);
  });

  it("reads CONCORD_FAULTS, and nothing when it is unset", () => {
    const planOf = (env: Record<string, string>) => parseFaultPlanText(loadConfig(env).faults.planText);
    expect(planOf({})).toBeUndefined();
    const p = planOf({
      CONCORD_FAULTS:
        '{"seed":5,"drop":0.5,"aws":[{"service":"sqs","fault":"sqs-throttled","probability":0.1}]}',
    });
    expect(p).toMatchObject({ seed: 5, drop: 0.5, dup: 0, delayMs: 0 });
    expect(p?.aws).toHaveLength(1);
    expect(() => planOf({ CONCORD_FAULTS: '{"drop":2}' })).toThrow(
      /^CONCORD_FAULTS drop must be a probability/,
    );
    expect(() => planOf({ CONCORD_FAULTS: '{"aws":[{"service":"sqs","fault":"nope"}]}' })).toThrow(
      FaultPlanError,
    );
    // Not JSON at all: the configuration refuses it before anything reads the plan.
    expect(() => loadConfig({ CONCORD_FAULTS: "{" })).toThrow(ConfigError);
  });
});

describe("the chaos run's snapshot", () => {
  it("reads the participants' items only once the records are read, so a step applied between the reads cannot show as a committed saga whose step never ran", async () => {
    const config = loadConfig({ CONCORD_PREFIX: "order" });
    const seen: string[] = [];
    const doc = {
      async send(command: { input: { TableName?: string } }) {
        const table = String(command.input.TableName);
        seen.push(`scan ${table}`);
        // A scan takes a while: anything the other read does meanwhile shows in the order.
        await new Promise((resolve) => setTimeout(resolve, 5));
        seen.push(`read ${table}`);
        return { Items: [] };
      },
    };
    const clients = { doc } as unknown as AwsClients;
    await readState(clients, config);
    expect(seen).toEqual([
      "scan order-transactions",
      "read order-transactions",
      "scan order-bank",
      "read order-bank",
    ]);
  });
});
