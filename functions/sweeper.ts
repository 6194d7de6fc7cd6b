import { lambdaEntry } from "../src/lambda.ts";
import { sweeperRole } from "../src/roles.ts";

/**
 * Fired by the schedule (an EventBridge rule, once a minute): timeouts, re-sends,
 * deadlock detection, swept every timer tick until the next invocation.
 */
export const handler = lambdaEntry(sweeperRole);
