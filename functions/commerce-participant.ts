import type { Context, ScheduledEvent, SQSBatchResponse, SQSEvent } from "aws-lambda";
import { lambdaWiring } from "../src/lambda.ts";
import { isCommerceParticipant } from "../src/participants/commerce/names.ts";
import { participantInquiryRole, participantRole, scheduledRole } from "../src/wiring.ts";

const name = process.env.CONCORD_PARTICIPANT;
if (!name || !isCommerceParticipant(name))
  throw new Error(
    "CONCORD_PARTICIPANT must name the e-commerce participant (inventory, payment, order, shipping)",
  );
const wiring = lambdaWiring();
const participant = participantRole(wiring, name);
const inquire = scheduledRole(wiring, participantInquiryRole(wiring, name));

/**
 * One e-commerce participant (inventory, payment, order or shipping), chosen by
 * CONCORD_PARTICIPANT: triggered by its queue (PREPARE, COMMIT, ROLLBACK, saga
 * actions and compensations) and, deployed a second time as its in-doubt
 * function, by an EventBridge rule: it asks the coordinator about barriers it is
 * in doubt about, every timer tick through the minute.
 */
export const handler = async (
  event: SQSEvent | ScheduledEvent,
  context?: Context,
): Promise<SQSBatchResponse | undefined> => {
  if ("Records" in event) return participant(event);
  await inquire(context && (() => context.getRemainingTimeInMillis()));
  return undefined;
};
