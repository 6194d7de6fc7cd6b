import { describe, expect, it } from "vitest";
import { isOlder, oldestFirst, onConflict } from "../../src/core/lock-policy.ts";
import { deadlockVictims } from "../../src/core/wait-for-graph.ts";

const old = { id: "t-old", startedAt: 100 };
const young = { id: "t-young", startedAt: 200 };

describe("oldestFirst", () => {
  it("sorts by isOlder's order: earlier start first, then the smaller id, equal ages together", () => {
    const ages = [
      { id: "c", startedAt: 2 },
      { id: "b", startedAt: 1 },
      { id: "a", startedAt: 2 },
      { id: "b", startedAt: 1 },
    ];
    expect([...ages].sort(oldestFirst)).toEqual([
      { id: "b", startedAt: 1 },
      { id: "b", startedAt: 1 },
      { id: "a", startedAt: 2 },
      { id: "c", startedAt: 2 },
    ]);
    for (const x of ages) for (const y of ages) expect(oldestFirst(x, y) < 0).toBe(isOlder(x, y));
  });
});

describe("onConflict", () => {
  it.each([
    ["wait-die", old, young, "wait"],
    ["wait-die", young, old, "die"],
    ["wait-die", { id: "a", startedAt: 5 }, { id: "b", startedAt: 5 }, "wait"],
    ["wait-die", { id: "b", startedAt: 5 }, { id: "a", startedAt: 5 }, "die"],
    ["wait-die", old, undefined, "die"],
    ["no-wait", old, young, "die"],
    ["no-wait", young, old, "die"],
    ["detect", young, old, "wait"],
    ["detect", old, young, "wait"],
  ] as const)("%s: requester %o, holder %o → %s", (policy, requester, holder, expected) => {
    expect(onConflict(policy, requester, holder)).toBe(expected);
  });
});

describe("deadlockVictims", () => {
  const w = (id: string, startedAt: number, ...waitsFor: string[]) => ({ id, startedAt, waitsFor });

  it("finds nothing without a cycle", () => {
    expect(deadlockVictims([w("a", 1, "b"), w("b", 2, "c"), w("c", 3)])).toEqual([]);
  });

  it("aborts the youngest of a two-transaction deadlock", () => {
    expect(deadlockVictims([w("t1", 1, "t2"), w("t2", 2, "t1")])).toEqual(["t2"]);
  });

  it("aborts the youngest of a longer cycle, not a bystander waiting on it", () => {
    const graph = [w("a", 1, "b"), w("b", 5, "c"), w("c", 3, "a"), w("d", 9, "a")];
    expect(deadlockVictims(graph)).toEqual(["b"]);
  });

  it("breaks two disjoint cycles with one victim each", () => {
    const graph = [w("a", 1, "b"), w("b", 2, "a"), w("x", 7, "y"), w("y", 3, "x")];
    expect(deadlockVictims(graph).sort()).toEqual(["b", "x"]);
  });

  it("needs only one victim when it sits on two cycles", () => {
    const graph = [w("hub", 9, "a", "b"), w("a", 1, "hub"), w("b", 2, "hub")];
    expect(deadlockVictims(graph)).toEqual(["hub"]);
  });

  it("ignores edges to transactions that are not waiting (finished or unknown)", () => {
    expect(deadlockVictims([w("a", 1, "gone")])).toEqual([]);
  });
});
