import type { SQSEvent } from "aws-lambda";
import { lambdaRoles } from "../src/lambda.ts";

/** Triggered by the coordinator queue: votes and acks. */
export const handler = (event: SQSEvent) => lambdaRoles().coordinator(event);
