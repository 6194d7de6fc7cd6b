import type { ScheduledEvent, SQSBatchResponse, SQSEvent } from "aws-lambda";
import { lambdaWiring } from "../src/lambda.ts";
import { bankInquiryRole, bankParticipantRole } from "../src/wiring.ts";

const server = process.env.CONCORD_PARTICIPANT;
if (!server) throw new Error("CONCORD_PARTICIPANT must name the bank server this function serves");
const wiring = lambdaWiring();
const participant = bankParticipantRole(wiring, server);
const inquire = bankInquiryRole(wiring, server);

/**
 * Triggered by one bank server's queue (PREPARE, COMMIT, ROLLBACK, saga actions
 * and compensations) and, by an EventBridge rule, to ask the coordinator about
 * barriers it is in doubt about.
 */
export const handler = async (event: SQSEvent | ScheduledEvent): Promise<SQSBatchResponse | undefined> => {
  if ("Records" in event) return participant(event);
  await inquire();
  return undefined;
};
