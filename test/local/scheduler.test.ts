import { describe, expect, it, vi } from "vitest";
import { startSchedule } from "../../src/local/scheduler.ts";
import { sleep } from "../../src/timers.ts";

const quietLog = () => ({ warn: vi.fn(), error: vi.fn() });

describe("schedule", () => {
  it("runs every rateMs, the first time one period after start", async () => {
    let runs = 0;
    const schedule = startSchedule({ rateMs: 50, run: async () => void runs++, log: quietLog() });
    await sleep(30);
    expect(runs).toBe(0);
    await sleep(250);
    await schedule.stop();
    expect(runs).toBeGreaterThanOrEqual(3);
    expect(runs).toBeLessThanOrEqual(6);
  });

  it("never overlaps runs, even when a run outlasts the period", async () => {
    let running = 0;
    let maxRunning = 0;
    let runs = 0;
    const log = quietLog();
    const schedule = startSchedule({
      rateMs: 20,
      runImmediately: true,
      log,
      run: async () => {
        running += 1;
        maxRunning = Math.max(maxRunning, running);
        await sleep(60);
        running -= 1;
        runs += 1;
      },
    });
    await sleep(300);
    await schedule.stop();
    expect(maxRunning).toBe(1);
    expect(runs).toBeGreaterThanOrEqual(3);
    expect(log.warn).toHaveBeenCalled(); // runs longer than their period are reported
  });

  it("logs a failing run and keeps going", async () => {
    const log = quietLog();
    let runs = 0;
    const schedule = startSchedule({
      rateMs: 20,
      log,
      run: async () => {
        runs += 1;
        if (runs === 1) throw new Error("sweep failed");
      },
    });
    await sleep(150);
    await schedule.stop();
    expect(runs).toBeGreaterThanOrEqual(3);
    expect(log.error).toHaveBeenCalledTimes(1);
    expect(log.error.mock.calls[0]?.[1]).toMatchObject({
      error: expect.objectContaining({ message: "sweep failed" }),
    });
  });

  it("stop() waits for the current run and starts no new one", async () => {
    let finished = false;
    let runs = 0;
    const schedule = startSchedule({
      rateMs: 10,
      runImmediately: true,
      log: quietLog(),
      run: async () => {
        runs += 1;
        await sleep(100);
        finished = true;
      },
    });
    await sleep(20); // inside the first run
    await schedule.stop();
    expect(finished).toBe(true);
    await sleep(50);
    expect(runs).toBe(1);
  });
});
