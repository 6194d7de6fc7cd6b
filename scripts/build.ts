/**
 * Bundles each function in functions/ into dist/<name>/index.mjs: one small ESM
 * file per Lambda, tree-shaken, for the Node.js 22 runtime. Prints the sizes.
 */
import { readdirSync, rmSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { build } from "esbuild";

const entries = readdirSync("functions").filter((f) => f.endsWith(".ts"));
rmSync("dist", { recursive: true, force: true });

for (const file of entries) {
  const name = basename(file, ".ts");
  const outfile = join("dist", name, "index.mjs");
  await build({
    entryPoints: [join("functions", file)],
    outfile,
    bundle: true,
    platform: "node",
    target: "node22",
    format: "esm",
    minify: true,
    sourcemap: "linked",
    legalComments: "none",
    // Some CommonJS dependencies call require(); give the ESM bundle one.
    banner: {
      js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
    },
  });
  console.log(`${outfile.padEnd(36)} ${(statSync(outfile).size / 1024).toFixed(0).padStart(6)} KiB`);
}
