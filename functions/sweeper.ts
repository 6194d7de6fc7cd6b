import { lambdaWiring } from "../src/lambda.ts";
import { sweeperRole } from "../src/wiring.ts";

const sweep = sweeperRole(lambdaWiring());

/** Fired by the schedule (an EventBridge rule): timeouts, re-sends, in-doubt resolution. */
export const handler = async (): Promise<void> => {
  await sweep();
};
