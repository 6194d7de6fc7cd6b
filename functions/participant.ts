import { lambdaEntry } from "../src/lambda.ts";
import { participantRole } from "../src/roles.ts";

/**
 * Any built-in participant (a bank server, inventory, payment, order,
 * shipping), chosen by CONCORD_PARTICIPANT; a name the deployment does not run
 * stops it at cold start. Triggered by its queue (PREPARE, COMMIT, ROLLBACK,
 * saga actions and compensations) and, deployed a second time as its in-doubt
 * function, by an EventBridge rule: it asks the coordinator about barriers it
 * is in doubt about, every timer tick through the minute.
 */
export const handler = lambdaEntry(participantRole);
