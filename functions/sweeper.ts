import { lambdaRoles } from "../src/lambda.ts";

/** Fired by the schedule: timeouts, re-sends, in-doubt resolution. */
export const handler = async (): Promise<void> => {
  await lambdaRoles().sweeper();
};
