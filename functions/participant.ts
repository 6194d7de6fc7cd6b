import type { Context, ScheduledEvent, SQSBatchResponse, SQSEvent } from "aws-lambda";
import { lambdaWiring } from "../src/lambda.ts";
import { participantInquiryRole, participantRole, scheduledRole } from "../src/wiring.ts";

const name = process.env.CONCORD_PARTICIPANT;
if (!name) throw new Error("CONCORD_PARTICIPANT must name the built-in participant this function serves");
const wiring = lambdaWiring();
// Throws at cold start for a name this deployment does not run, naming those it does.
const participant = participantRole(wiring, name);
const inquire = scheduledRole(wiring, participantInquiryRole(wiring, name));

/**
 * Any built-in participant (a bank server, inventory, payment, order,
 * shipping), chosen by CONCORD_PARTICIPANT: triggered by its queue (PREPARE,
 * COMMIT, ROLLBACK, saga actions and compensations) and, deployed a second time
 * as its in-doubt function, by an EventBridge rule: it asks the coordinator
 * about barriers it is in doubt about, every timer tick through the minute.
 */
export const handler = async (
  event: SQSEvent | ScheduledEvent,
  context?: Context,
): Promise<SQSBatchResponse | undefined> => {
  if ("Records" in event) return participant(event);
  await inquire(context && (() => context.getRemainingTimeInMillis()));
  return undefined;
};
