import { handle } from "hono/aws-lambda";
import { lambdaRoles } from "../src/lambda.ts";

/** The HTTP API behind a Lambda function URL. */
export const handler = handle(lambdaRoles().api);
