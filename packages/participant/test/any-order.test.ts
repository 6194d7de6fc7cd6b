/**
 * Property: whatever the order, duplication and overlap of one transaction's
 * messages, once concord has re-sent each until it got a final answer, the
 * service ends as after one delivery of each in protocol order — nothing held,
 * the same points applied — with each rule run at most once. (A duplicate
 * arriving after the decision may answer differently — a late PREPARE after a
 * ROLLBACK votes no — which concord ignores; the barrier tests pin each answer.)
 *
 * In `transactional` mode the service may also die after any write and before
 * its answer (the dispatcher sees a 500 and sends again): the points are still
 * applied once. There a rule may run more than once on overlapping copies (it
 * only reads); what must hold once is its effect, the ledger.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Endpoint } from "../src/request.ts";
import { bodies, type Reply, rig } from "./rig.ts";

interface Scenario {
  readonly name: string;
  readonly messages: readonly (readonly [Endpoint, unknown])[];
  /** Points applied after one delivery each in protocol order. */
  readonly applied: number;
}

const scenarios: Scenario[] = [
  {
    name: "2PC commit",
    messages: [
      ["prepare", bodies.prepare()],
      ["commit", bodies.commit()],
    ],
    applied: 5,
  },
  {
    name: "2PC abort",
    messages: [
      ["prepare", bodies.prepare()],
      ["rollback", bodies.rollback()],
    ],
    applied: 0,
  },
  {
    name: "2PC refused",
    messages: [
      ["prepare", bodies.prepare({ action: "redeem" })],
      ["rollback", bodies.rollback()],
    ],
    applied: 0,
  },
  { name: "saga step done", messages: [["action", bodies.action()]], applied: 5 },
  {
    name: "saga step compensated",
    messages: [
      ["action", bodies.action()],
      ["compensate", bodies.compensate()],
    ],
    applied: 0,
  },
  {
    name: "saga failed step compensated",
    messages: [
      ["action", bodies.action({ action: "redeem" })],
      ["compensate", bodies.compensate()],
    ],
    applied: 0,
  },
  {
    name: "atomic stage compensated",
    messages: [
      ["prepare", bodies.prepare()],
      ["commit", bodies.commit()],
      ["compensate", bodies.compensate({ atomic: true })],
    ],
    applied: 0,
  },
];

/** A final answer: concord re-sends on anything else (a 503 here, or a crash's 500). */
const final = (r: Reply) => r.status !== 503 && r.status !== 500;

describe.each(["own-io", "transactional"] as const)("any order, any duplication (%s)", (mode) => {
  it.each(scenarios)("$name", async (scenario) => {
    await fc.assert(
      fc.asyncProperty(
        // Each delivery: which message, and whether it overlaps the one before it.
        fc.array(fc.tuple(fc.nat(scenario.messages.length - 1), fc.boolean()), { maxLength: 12 }),
        // Transactional: after which writes the service dies before answering.
        fc.array(fc.boolean(), { maxLength: 12 }),
        async (deliveries, crashes) => {
          const plan = [...crashes];
          const kit =
            mode === "transactional"
              ? rig({ mode, crashAfterWrite: () => plan.shift() ?? false })
              : rig({ mode });
          const answers = scenario.messages.map((): Reply[] => []);
          const deliver = async (i: number) => {
            const [endpoint, body] = scenario.messages[i] as readonly [Endpoint, unknown];
            const reply = await kit.send(endpoint, body);
            answers[i]?.push(reply);
            return reply;
          };
          // A commit is sent only after the prepare's yes was recorded; any other message may come at any time.
          const commitAt = scenario.messages.findIndex(([e]) => e === "commit");
          let prepared = false;
          let batch: Promise<Reply>[] = [];
          for (const [i, overlap] of deliveries) {
            if (i === commitAt && !prepared) continue;
            if (!overlap) {
              await Promise.all(batch);
              batch = [];
            }
            batch.push(
              deliver(i).then((r) => {
                if (scenario.messages[i]?.[0] === "prepare" && r.status === 200) prepared = true;
                return r;
              }),
            );
          }
          await Promise.all(batch);
          // Faults stop: concord re-sends each message, in protocol order, until it has a final answer.
          for (let i = 0; i < scenario.messages.length; i++) {
            for (let n = 0; n < 10 && !answers[i]?.some(final); n++) await deliver(i);
          }

          expect(kit.ledger).toEqual({ held: 0, applied: scenario.applied });
          if (mode === "own-io") {
            for (const rule of ["prepare", "commit", "rollback", "action", "compensate"]) {
              expect(kit.calls.filter((c) => c === rule).length).toBeLessThanOrEqual(1);
            }
          }
          // Every answer is one the dispatcher reads as the contract says; a 500 only where the service died.
          const died = crashes.filter(Boolean).length - plan.filter(Boolean).length;
          const deaths = answers.flat().filter((r) => r.status === 500).length;
          expect(deaths).toBeLessThanOrEqual(mode === "transactional" ? died : 0);
          for (const given of answers) {
            for (const r of given) expect([200, 404, 409, 500, 503]).toContain(r.status);
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});
