import { describe, expect, it } from "vitest";
import {
  costPerMillion,
  DYNAMODB_USD_PER_MILLION_READ_UNITS,
  DYNAMODB_USD_PER_MILLION_WRITE_UNITS,
  LAMBDA_USD_PER_GB_SECOND,
  LAMBDA_USD_PER_MILLION_REQUESTS,
  SQS_USD_PER_MILLION_REQUESTS,
  sqsBilledRequests,
  stepFunctionsStandardPerMillion,
} from "../../bench/cost-model.ts";

const none = { readUnits: 0, writeUnits: 0, sqsBilledRequests: 0, lambdaInvocations: 0, lambdaMs: 0 };

describe("the cost model", () => {
  it("prices each resource a transaction uses at its list price per million transactions", () => {
    const cost = costPerMillion({
      readUnits: 4,
      writeUnits: 10,
      sqsBilledRequests: 20,
      lambdaInvocations: 5,
      lambdaMs: 30,
    });
    expect(cost.dynamodbRead).toBeCloseTo(4 * DYNAMODB_USD_PER_MILLION_READ_UNITS, 10);
    expect(cost.dynamodbWrite).toBeCloseTo(10 * DYNAMODB_USD_PER_MILLION_WRITE_UNITS, 10);
    expect(cost.sqs).toBeCloseTo(20 * SQS_USD_PER_MILLION_REQUESTS, 10);
    expect(cost.lambdaRequests).toBeCloseTo(5 * LAMBDA_USD_PER_MILLION_REQUESTS, 10);
    // 30 ms at 512 MB, a million times: 15,000 GB-s.
    expect(cost.lambdaDuration).toBeCloseTo(15_000 * LAMBDA_USD_PER_GB_SECOND, 10);
    expect(cost.total).toBeCloseTo(
      cost.dynamodbRead + cost.dynamodbWrite + cost.sqs + cost.lambdaRequests + cost.lambdaDuration,
      10,
    );
  });

  it("uses today's us-east-1 list prices", () => {
    // A million 1-unit writes, reads, SQS requests and invocations, and a GB-second each.
    expect(costPerMillion({ ...none, writeUnits: 1 }).total).toBeCloseTo(0.625, 10);
    expect(costPerMillion({ ...none, readUnits: 1 }).total).toBeCloseTo(0.125, 10);
    expect(costPerMillion({ ...none, sqsBilledRequests: 1 }).total).toBeCloseTo(0.4, 10);
    expect(costPerMillion({ ...none, lambdaInvocations: 1 }).total).toBeCloseTo(0.2, 10);
    expect(costPerMillion({ ...none, lambdaMs: 1000 }, 1024).total).toBeCloseTo(13.3334, 4);
  });

  it("scales Lambda duration with the memory size and costs nothing for nothing", () => {
    const at = (memoryMb: number) => costPerMillion({ ...none, lambdaMs: 10 }, memoryMb).lambdaDuration;
    expect(at(1024)).toBeCloseTo(2 * at(512), 10);
    expect(costPerMillion(none).total).toBe(0);
  });

  it("bills SQS per 64 KB chunk of payload, at least one request per call", () => {
    expect(sqsBilledRequests(0)).toBe(1);
    expect(sqsBilledRequests(64 * 1024)).toBe(1);
    expect(sqsBilledRequests(64 * 1024 + 1)).toBe(2);
    expect(sqsBilledRequests(256 * 1024)).toBe(4);
  });

  it("charges Step Functions Standard $25 per million transitions: the 2-step saga's 2 are $50", () => {
    expect(stepFunctionsStandardPerMillion()).toBe(50);
    expect(stepFunctionsStandardPerMillion(5)).toBe(125);
  });
});
