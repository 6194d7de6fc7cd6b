import type { Context, ScheduledEvent, SQSBatchResponse, SQSEvent } from "aws-lambda";
import { lambdaWiring } from "../src/lambda.ts";
import { participantInquiryRole, participantRole, scheduledRole } from "../src/wiring.ts";

const server = process.env.CONCORD_PARTICIPANT;
if (!server) throw new Error("CONCORD_PARTICIPANT must name the bank server this function serves");
const wiring = lambdaWiring();
const participant = participantRole(wiring, server);
const inquire = scheduledRole(wiring, participantInquiryRole(wiring, server));

/**
 * Triggered by one bank server's queue (PREPARE, COMMIT, ROLLBACK, saga actions
 * and compensations) and, deployed a second time as its in-doubt function, by an
 * EventBridge rule: it asks the coordinator about barriers it is in doubt about,
 * every timer tick through the minute.
 */
export const handler = async (
  event: SQSEvent | ScheduledEvent,
  context?: Context,
): Promise<SQSBatchResponse | undefined> => {
  if ("Records" in event) return participant(event);
  await inquire(context && (() => context.getRemainingTimeInMillis()));
  return undefined;
};
