import { handle } from "hono/aws-lambda";
import { lambdaConfig, lambdaWiring, withApiKeysFromSecret } from "../src/lambda.ts";
import { apiRole } from "../src/roles.ts";

/** The HTTP API behind a Lambda function URL; API keys from the stack's secret, read at cold start. */
export const handler = handle(apiRole(lambdaWiring(await withApiKeysFromSecret(lambdaConfig())), "").http);
