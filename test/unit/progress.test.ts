/** The progress line: drawn in place on a terminal, an occasional plain line elsewhere. */
import { describe, expect, it } from "vitest";
import { createProgress } from "../../src/progress.ts";

const sink = (isTTY: boolean) => {
  const out: string[] = [];
  return { isTTY, out, write: (text: string) => out.push(text) };
};

describe("progress on a terminal", () => {
  it("redraws one line in place, at most every liveEveryMs, and ends it with the last word and a newline", () => {
    const live = sink(true);
    let t = 0;
    const p = createProgress({ live, liveEveryMs: 100, now: () => t });
    expect(p.live).toBe(true);
    p.update("1/4");
    t = 50;
    p.update("2/4");
    t = 100;
    p.update("3/4");
    p.done("4/4");
    expect(live.out.join("")).toBe("\r1/4\x1b[K\r3/4\x1b[K\r4/4\x1b[K\n");
  });

  it("ends a drawn line before other output, once", () => {
    const live = sink(true);
    const p = createProgress({ live });
    p.end();
    p.update("1/3");
    p.end();
    p.end();
    expect(live.out.join("")).toBe("\r1/3\x1b[K\n");
  });
});

describe("progress elsewhere (CI, a pipe)", () => {
  it("prints a plain line at most every plainEveryMs, and always the last word", () => {
    const live = sink(false);
    const plain = sink(false);
    let t = 0;
    const p = createProgress({ live, plain, plainEveryMs: 1000, now: () => t });
    expect(p.live).toBe(false);
    p.update("a");
    t = 999;
    p.update("b");
    t = 1000;
    p.update("c");
    t = 1500;
    p.update("d");
    p.end();
    p.done("e");
    expect(plain.out).toEqual(["c\n", "e\n"]);
    expect(live.out).toEqual([]);
  });
});
