import { lambdaEntry } from "../src/lambda.ts";
import { dispatcherRole } from "../src/roles.ts";

/** Triggered by the dispatcher queue: messages for registered HTTP participants, delivered over HTTP. */
export const handler = lambdaEntry(dispatcherRole);
