/**
 * Synthesizes the concord stack offline (no AWS, no Docker) from a topology, with
 * placeholder bundles, and gives the template plus helpers to read it.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { App } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { BUNDLE_FILE, bundleDir } from "../../infra/cdk/bundles.ts";
import { ConcordStack, type ConcordStackProps } from "../../infra/cdk/concord-stack.ts";
import { functionEnvironment } from "../../infra/cdk/function-environment.ts";
import { type Config, loadConfig } from "../../src/config.ts";

export interface Resource {
  readonly Type: string;
  readonly Properties?: Record<string, unknown>;
  readonly DependsOn?: string[];
  readonly DeletionPolicy?: string;
}

export interface Synthesized {
  readonly config: Config;
  readonly template: Template;
  readonly resources: Record<string, Resource>;
  readonly outputs: Record<string, { Value: unknown }>;
  /** Logical ids of the resources of a type. */
  ids(type: string): string[];
  /** The logical id of the one resource of `type` whose property `key` is `value`. */
  idWhere(type: string, key: string, value: unknown): string;
  props(id: string): Record<string, unknown>;
}

/** Placeholder bundles: the stack only needs each bundle folder to exist. */
function fakeBundles(config: Config): string {
  const dir = mkdtempSync(join(tmpdir(), "concord-bundles-"));
  for (const fn of config.topology.functions) {
    const folder = bundleDir(dir, fn.entry);
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, BUNDLE_FILE), "export const handler = async () => {};\n");
  }
  return dir;
}

export function synthesize(
  env: NodeJS.ProcessEnv,
  extra: Partial<Omit<ConcordStackProps, "topology" | "environment" | "bundlesDir">> = {},
): Synthesized {
  const config = loadConfig(env);
  const app = new App({ analyticsReporting: false });
  const stack = new ConcordStack(app, "concord-test", {
    topology: config.topology,
    environment: functionEnvironment(config, env),
    bundlesDir: fakeBundles(config),
    ...extra,
  });
  const template = Template.fromStack(stack);
  const json = template.toJSON() as {
    Resources: Record<string, Resource>;
    Outputs: Record<string, { Value: unknown }>;
  };
  const resources = json.Resources;
  const ids = (type: string) => Object.keys(resources).filter((id) => resources[id]?.Type === type);
  const props = (id: string) => resources[id]?.Properties ?? {};
  return {
    config,
    template,
    resources,
    outputs: json.Outputs,
    ids,
    props,
    idWhere(type, key, value) {
      const found = ids(type).filter((id) => JSON.stringify(props(id)[key]) === JSON.stringify(value));
      if (found.length !== 1)
        throw new Error(`${found.length} ${type} with ${key} = ${JSON.stringify(value)}`);
      return found[0] as string;
    },
  };
}

/** `{"Fn::GetAtt":[id,"Arn"]}` or `{"Ref":id}` → id; anything else → undefined. */
export function referencedId(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const v = value as { "Fn::GetAtt"?: [string, string]; Ref?: string };
  return v["Fn::GetAtt"]?.[0] ?? v.Ref;
}
