import type { SQSEvent } from "aws-lambda";
import { lambdaWiring } from "../src/lambda.ts";
import { dispatcherRole } from "../src/wiring.ts";

const dispatcher = dispatcherRole(lambdaWiring());

/** Triggered by the dispatcher queue: messages for registered HTTP participants, delivered over HTTP. */
export const handler = (event: SQSEvent) => dispatcher(event);
