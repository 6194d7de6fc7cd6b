import { lambdaEntry } from "../src/lambda.ts";
import { coordinatorRole } from "../src/roles.ts";

/** Triggered by the coordinator queue: votes, acks and saga results. */
export const handler = lambdaEntry(coordinatorRole);
