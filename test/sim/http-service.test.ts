/**
 * The simulated HTTP service keeps its barriers per incarnation, as a correct
 * service must: an id used again after its record expired is another
 * transaction, and a request of either meets only its own barriers.
 */
import { describe, expect, it } from "vitest";
import type { ParticipantMessage } from "../../src/core/messages.ts";
import { type CallMessage, idempotencyKey, requestBody } from "../../src/http-participants/http-protocol.ts";
import { createSimulatedHttpService } from "../../testkit/sim/http-service.ts";
import type { Entry } from "../../testkit/sim/ledger.ts";
import { createRandom } from "../../testkit/sim/random.ts";

const FIRST = 1_700_000_000_000;
const SECOND = FIRST + 120_000;
const DEADLINE = SECOND + 60_000;
const base = { txId: "tx5", participant: "ext" } as const;

function setup() {
  const entries: Entry[] = [];
  const violations: string[] = [];
  const service = createSimulatedHttpService({
    name: "ext",
    rng: createRandom(1),
    fault: () => "none",
    record: (entry) => entries.push(entry),
    violation: (detail) => violations.push(detail),
    afterCall: () => {},
    yieldSome: async () => {},
  });
  const send = async (message: CallMessage) => {
    const outcome = await service.call({
      url: new URL(`https://ext.example/concord/${message.type}`),
      body: requestBody(message),
      headers: { "idempotency-key": idempotencyKey(message) },
      timeoutMs: 1_000,
      allowPrivate: false,
    });
    return outcome.kind === "response" ? outcome.status : outcome.kind;
  };
  return { service, entries, violations, send };
}

const prepare = (startedAt: number): ParticipantMessage & CallMessage => ({
  type: "prepare",
  ...base,
  deadline: DEADLINE,
  startedAt,
  branches: [{ index: 0, action: "record", input: {} }],
});

describe("simulated HTTP service: incarnations of a reused id", () => {
  it("a ROLLBACK of the new transaction does not meet the old one's committed barrier", async () => {
    const { service, entries, violations, send } = setup();
    expect(await send(prepare(FIRST))).toBe(200);
    expect(await send({ type: "commit", ...base, startedAt: FIRST })).toBe(200);
    // The id serves again; the new transaction's ROLLBACK overtakes its PREPARE.
    expect(await send({ type: "rollback", ...base, startedAt: SECOND })).toBe(404);
    expect(await send(prepare(SECOND))).toBe(409);
    expect(violations).toEqual([]);
    expect(service.barriers().map((b) => [b.txStartedAt, b.state])).toEqual([
      [FIRST, "committed"],
      [SECOND, "rolled_back"],
    ]);
    expect(entries).toEqual([
      { kind: "commit", txId: "tx5", startedAt: FIRST, participant: "ext", branches: [0] },
    ]);
  });

  it("the new transaction's PREPARE is its own, and its COMMIT applies it once more", async () => {
    const { service, entries, violations, send } = setup();
    await send(prepare(FIRST));
    await send({ type: "rollback", ...base, startedAt: FIRST });
    expect(await send(prepare(SECOND))).toBe(200);
    expect(await send({ type: "commit", ...base, startedAt: SECOND })).toBe(200);
    expect(violations).toEqual([]);
    expect(service.barriers().map((b) => [b.txStartedAt, b.state])).toEqual([
      [FIRST, "rolled_back"],
      [SECOND, "committed"],
    ]);
    expect(entries.map((e) => e.startedAt)).toEqual([SECOND]);
  });

  it("a compensation of the new saga undoes nothing of the old saga's done step", async () => {
    const { service, entries, send } = setup();
    const step = { ...base, branch: 0, action: "book", input: {} };
    expect(await send({ type: "action", ...step, deadline: DEADLINE, startedAt: FIRST })).toBe(200);
    // The new saga compensates a step whose action never reached the service; its late action is refused.
    expect(await send({ type: "compensate", ...step, startedAt: SECOND })).toBe(200);
    expect(await send({ type: "action", ...step, deadline: DEADLINE, startedAt: SECOND })).toBe(409);
    expect(service.steps().map((s) => [s.txStartedAt, s.state])).toEqual([
      [FIRST, "done"],
      [SECOND, "compensated"],
    ]);
    expect(entries).toEqual([
      { kind: "action", txId: "tx5", startedAt: FIRST, branch: 0, applied: true },
      { kind: "compensation", txId: "tx5", startedAt: SECOND, branch: 0, applied: false },
    ]);
  });
});
