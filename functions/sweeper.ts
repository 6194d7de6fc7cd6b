import type { Context, ScheduledEvent } from "aws-lambda";
import { lambdaWiring } from "../src/lambda.ts";
import { scheduledRole, sweeperRole } from "../src/wiring.ts";

const wiring = lambdaWiring();
const sweep = scheduledRole(wiring, sweeperRole(wiring));

/**
 * Fired by the schedule (an EventBridge rule, once a minute): timeouts, re-sends,
 * deadlock detection, swept every timer tick until the next invocation.
 */
export const handler = async (_event: ScheduledEvent, context?: Context): Promise<void> => {
  await sweep(context && (() => context.getRemainingTimeInMillis()));
};
