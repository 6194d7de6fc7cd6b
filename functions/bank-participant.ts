import type { SQSEvent } from "aws-lambda";
import { lambdaRoles } from "../src/lambda.ts";

const server = process.env.CONCORD_PARTICIPANT;
if (!server) throw new Error("CONCORD_PARTICIPANT must name the bank server this function serves");

/** Triggered by one bank server's queue: PREPARE, COMMIT, ROLLBACK. */
export const handler = (event: SQSEvent) => lambdaRoles().participant(server)(event);
