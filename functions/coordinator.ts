import type { SQSEvent } from "aws-lambda";
import { lambdaWiring } from "../src/lambda.ts";
import { coordinatorRole } from "../src/wiring.ts";

const coordinator = coordinatorRole(lambdaWiring());

/** Triggered by the coordinator queue: votes and acks. */
export const handler = (event: SQSEvent) => coordinator(event);
