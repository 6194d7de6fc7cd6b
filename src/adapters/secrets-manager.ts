/** Reading a Secrets Manager secret's string: the API's keys, the dispatcher's signing secret. */
import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import type { Config } from "../config.ts";

/** One client for this process (LocalStack's endpoint when set), and a read of a secret's current string. */
export function secretReader(config: Pick<Config, "region" | "credentials" | "lambda">) {
  let client: SecretsManagerClient | undefined;
  return async (secretId: string): Promise<string> => {
    const endpoint = config.lambda.secretsManagerEndpoint;
    client ??= new SecretsManagerClient({
      region: config.region,
      ...(endpoint ? { endpoint } : {}),
      ...(config.credentials ? { credentials: config.credentials } : {}),
    });
    const { SecretString: text } = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
    return text ?? "";
  };
}
