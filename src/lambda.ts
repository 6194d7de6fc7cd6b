import { createAwsClients } from "./adapters/aws-clients.ts";
import { loadConfig } from "./config.ts";
import { createRoles, type Roles } from "./wiring.ts";

let roles: Roles | undefined;

/** The roles of this warm Lambda process, built on first use from the environment the stack sets. */
export function lambdaRoles(): Roles {
  if (!roles) {
    const config = loadConfig();
    roles = createRoles(config, createAwsClients(config));
  }
  return roles;
}
