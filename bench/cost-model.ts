/**
 * What a transaction costs on AWS, from what the bench measures per committed
 * transaction. List prices, us-east-1, as published on the AWS pricing pages
 * (DynamoDB, SQS, Lambda, Step Functions) on PRICES_AS_OF. Free tiers are left
 * out: at a million transactions they are noise, and they are per account.
 */

export const PRICES_AS_OF = "2025-07-01";
export const PRICE_REGION = "us-east-1";

/** DynamoDB on-demand, Standard table class (after the 2024-11-01 reduction), per million request units. */
export const DYNAMODB_USD_PER_MILLION_READ_UNITS = 0.125;
export const DYNAMODB_USD_PER_MILLION_WRITE_UNITS = 0.625;
/** SQS standard queues, per million requests; each 64 KB chunk of a request's payload is billed as one request. */
export const SQS_USD_PER_MILLION_REQUESTS = 0.4;
export const SQS_BILLED_CHUNK_BYTES = 64 * 1024;
/** Lambda, per million invocations. */
export const LAMBDA_USD_PER_MILLION_REQUESTS = 0.2;
/** Lambda on Arm (infra/cdk builds every function for ARM_64), first pricing tier, per GB-second. */
export const LAMBDA_USD_PER_GB_SECOND = 0.0000133334;
/** Every function's memory size in infra/topology.ts. */
export const LAMBDA_MEMORY_MB = 512;
/** Step Functions Standard workflows, per million state transitions. */
export const STEP_FUNCTIONS_STANDARD_USD_PER_MILLION_TRANSITIONS = 25;

/**
 * State transitions of the cheapest Step Functions Standard saga that does what
 * `--protocol saga` does, when nothing fails: a Withdraw Task state (Catch to
 * RefundWithdraw), then a Deposit Task state with End (Catch to RefundDeposit,
 * then RefundWithdraw). Step Functions bills a transition per state executed;
 * the compensation states are not entered, so 2.
 */
export const STEP_FUNCTIONS_TWO_STEP_SAGA_TRANSITIONS = 2;

/** Resources one committed transaction used, as the bench measured them. */
export interface UsagePerTx {
  readonly readUnits: number;
  readonly writeUnits: number;
  /** SQS requests as billed: one per call, or one per 64 KB chunk of a larger payload. */
  readonly sqsBilledRequests: number;
  /** Function invocations: API requests plus SQS batches handed to a handler. */
  readonly lambdaInvocations: number;
  /** CPU time of every role, in ms, taken as the billed duration. */
  readonly lambdaMs: number;
}

/** US dollars per million committed transactions, by line item. */
export interface CostBreakdown {
  readonly dynamodbRead: number;
  readonly dynamodbWrite: number;
  readonly sqs: number;
  readonly lambdaRequests: number;
  readonly lambdaDuration: number;
  readonly total: number;
}

export function costPerMillion(usage: UsagePerTx, memoryMb = LAMBDA_MEMORY_MB): CostBreakdown {
  const dynamodbRead = usage.readUnits * DYNAMODB_USD_PER_MILLION_READ_UNITS;
  const dynamodbWrite = usage.writeUnits * DYNAMODB_USD_PER_MILLION_WRITE_UNITS;
  const sqs = usage.sqsBilledRequests * SQS_USD_PER_MILLION_REQUESTS;
  const lambdaRequests = usage.lambdaInvocations * LAMBDA_USD_PER_MILLION_REQUESTS;
  // A million transactions, each lambdaMs of compute at memoryMb.
  const gbSecondsPerMillion = (usage.lambdaMs / 1000) * (memoryMb / 1024) * 1_000_000;
  const lambdaDuration = gbSecondsPerMillion * LAMBDA_USD_PER_GB_SECOND;
  return {
    dynamodbRead,
    dynamodbWrite,
    sqs,
    lambdaRequests,
    lambdaDuration,
    total: dynamodbRead + dynamodbWrite + sqs + lambdaRequests + lambdaDuration,
  };
}

/** SQS requests one call is billed as, given its payload size in bytes. */
export function sqsBilledRequests(payloadBytes: number): number {
  return Math.max(1, Math.ceil(payloadBytes / SQS_BILLED_CHUNK_BYTES));
}

/** What Step Functions Standard charges per million executions for its state transitions alone. */
export function stepFunctionsStandardPerMillion(
  transitions = STEP_FUNCTIONS_TWO_STEP_SAGA_TRANSITIONS,
): number {
  return transitions * STEP_FUNCTIONS_STANDARD_USD_PER_MILLION_TRANSITIONS;
}
