import { ConditionalCheckFailedException, TransactionCanceledException } from "@aws-sdk/client-dynamodb";
import { describe, expect, it } from "vitest";
import {
  isTransientCancellation,
  isUnavailableError,
  retryTransientCancellations,
} from "../../src/adapters/transient-errors.ts";
import { TransientStoreError } from "../../src/ports/errors.ts";

const cancelled = (...codes: string[]) =>
  new TransactionCanceledException({
    message: "Transaction cancelled",
    $metadata: { httpStatusCode: 400 },
    CancellationReasons: codes.map((Code) => ({ Code })),
  });

describe("isTransientCancellation", () => {
  it.each([
    [["TransactionConflict", "None"], true],
    [["None", "ThrottlingError"], true],
    [["ProvisionedThroughputExceeded"], true],
    [["TransactionConflict", "ConditionalCheckFailed"], false],
    [["ValidationError", "TransactionConflict"], false],
    [["None", "None"], false],
    [[], false],
  ])("reasons %j → %s", (codes, expected) => {
    expect(isTransientCancellation(cancelled(...codes))).toBe(expected);
  });

  it("is false for anything but a cancelled transaction", () => {
    expect(isTransientCancellation(new Error("TransactionConflict"))).toBe(false);
  });
});

describe("retryTransientCancellations", () => {
  const noSleep = (delays: number[]) => ({
    sleep: async (ms: number) => {
      delays.push(ms);
    },
    random: () => 1,
  });

  it("sends a conflicted write again until it goes through", async () => {
    const delays: number[] = [];
    let calls = 0;
    const result = await retryTransientCancellations(async () => {
      calls++;
      if (calls <= 3) throw cancelled("TransactionConflict", "None");
      return "written";
    }, noSleep(delays));
    expect(result).toBe("written");
    expect(calls).toBe(4);
    // Full jitter over 25, 50, 100 ms (random() = 1 shows the ceiling).
    expect(delays).toEqual([25, 50, 100]);
  });

  it("gives up after the last attempt with TransientStoreError carrying the cancellation", async () => {
    const delays: number[] = [];
    let calls = 0;
    const last = cancelled("ThrottlingError");
    const error = await retryTransientCancellations(
      async () => {
        calls++;
        throw last;
      },
      { ...noSleep(delays), attempts: 5, capMs: 60 },
    ).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(TransientStoreError);
    expect(error).toMatchObject({ name: "TransientStoreError", attempts: 5, cause: last });
    expect(calls).toBe(5);
    expect(delays).toEqual([25, 50, 60, 60]);
  });

  it.each([
    ["a failed condition", () => cancelled("ConditionalCheckFailed", "TransactionConflict")],
    ["a validation error", () => cancelled("ValidationError")],
    ["an unconditional failure", () => new ConditionalCheckFailedException({ message: "no", $metadata: {} })],
  ])("never repeats %s", async (_what, make) => {
    let calls = 0;
    const err = make();
    await expect(
      retryTransientCancellations(async () => {
        calls++;
        throw err;
      }, noSleep([])),
    ).rejects.toBe(err);
    expect(calls).toBe(1);
  });
});

describe("isUnavailableError", () => {
  const aws = (name: string, status: number, extra: Record<string, unknown> = {}) =>
    Object.assign(new Error(name), { name, $fault: status >= 500 ? "server" : "client" }, extra, {
      $metadata: { httpStatusCode: status },
    });

  it.each([
    [aws("ThrottlingException", 400), true],
    [aws("ProvisionedThroughputExceededException", 400), true],
    [aws("RequestLimitExceeded", 400), true],
    [aws("InternalServerError", 500), true],
    [aws("SomethingNew", 502), true],
    [aws("ReplicatedWriteConflictException", 400, { $retryable: {} }), true],
    [Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }), true],
    [new TransientStoreError(5), true],
    [aws("ConditionalCheckFailedException", 400), false],
    [aws("ValidationException", 400), false],
    [aws("ResourceNotFoundException", 400), false],
    [new Error("boom"), false],
    ["a string", false],
  ])("%s → %s", (err, expected) => {
    expect(isUnavailableError(err)).toBe(expected);
  });
});
