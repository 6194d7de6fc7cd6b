import { handle } from "hono/aws-lambda";
import {
  flushingMetrics,
  lambdaConfig,
  lambdaWiring,
  withApiKeysFromSecret,
  withLambdaContext,
} from "../src/lambda.ts";
import { apiRole } from "../src/roles.ts";

/** The HTTP API behind a Lambda function URL; API keys from the stack's secret, read at cold start. */
const wiring = lambdaWiring(await withApiKeysFromSecret(lambdaConfig()));
export const handler = flushingMetrics(wiring, withLambdaContext(handle(apiRole(wiring, "").http)));
