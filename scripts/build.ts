/**
 * `npm run build`: bundles each function in functions/ into dist/<name>/index.mjs
 * (see bundle.ts) and prints the sizes. `-- --analyze` also lists what fills each bundle.
 */
import { rmSync } from "node:fs";
import { relative } from "node:path";
import { Command } from "commander";
import { usageErrorsExit } from "../src/cli-args.ts";
import { bundleContents, bundleFunctions } from "./bundle.ts";

const { analyze } = usageErrorsExit(
  new Command("npm run build --")
    .description("Bundles each function in functions/ into dist/<name>/index.mjs and prints the sizes.")
    .option("--analyze", "also list what fills each bundle", false),
  2,
)
  .parse()
  .opts<{ analyze: boolean }>();
const kib = (bytes: number) => `${(bytes / 1024).toFixed(0).padStart(6)} KiB`;

rmSync("dist", { recursive: true, force: true });
const bundles = await bundleFunctions();
for (const bundle of bundles) {
  console.log(`${relative(process.cwd(), bundle.outfile).padEnd(36)} ${kib(bundle.bytes)}`);
  if (analyze) {
    for (const [what, bytes] of bundleContents(bundle).slice(0, 15))
      console.log(`    ${what.padEnd(44)} ${kib(bytes)}`);
  }
}
