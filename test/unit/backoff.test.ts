import { describe, expect, it } from "vitest";
import { backoffMs, jitteredBackoffMs } from "../../src/core/backoff.ts";

describe("backoff", () => {
  it.each([
    [0, 10],
    [1, 20],
    [3, 80],
    [4, 100],
    [1_000, 100],
  ])("attempt %i waits %i ms (base 10, cap 100)", (attempt, ms) => {
    expect(backoffMs(10, attempt, 100)).toBe(ms);
  });

  it.each([
    { name: "full jitter waits nothing at random() = 0", random: 0, minShare: 0, ms: 0 },
    { name: "full jitter waits up to the backoff", random: 0.999, minShare: 0, ms: 79 },
    { name: "equal jitter always waits half", random: 0, minShare: 0.5, ms: 40 },
    { name: "equal jitter waits up to the backoff", random: 0.999, minShare: 0.5, ms: 79 },
    { name: "the spread is linear in random()", random: 0.5, minShare: 0, ms: 40 },
  ])("$name", ({ random, minShare, ms }) => {
    expect(jitteredBackoffMs(10, 3, 100, () => random, minShare)).toBe(ms);
  });

  it("jitter never goes past the cap", () => {
    expect(jitteredBackoffMs(10, 20, 100, () => 0.999)).toBe(99);
  });
});
