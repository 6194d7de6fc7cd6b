/**
 * esbuild settings for the Lambda bundles: one ESM file per entry in functions/,
 * for the Node.js 22 runtime, holding only the code its role reaches.
 *
 * The AWS SDK is bundled rather than taken from the runtime: the bundle then runs
 * the SDK version the tests ran (the lockfile's), AWS runtime updates cannot
 * change it under a deployed function, and one minified file loads faster at
 * cold start than the runtime's SDK spread over hundreds of files.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { type BuildResult, build, type Metafile, type Plugin } from "esbuild";
import { BUNDLE_FILE, bundleDir, bundleName } from "../infra/cdk/bundles.ts";

export interface Bundle {
  /** The entry's file name without extension; also the folder under the output directory. */
  readonly name: string;
  readonly entry: string;
  readonly outfile: string;
  readonly bytes: number;
  readonly metafile: Metafile;
}

export interface BundleOptions {
  /** Where bundles go (`<outdir>/<name>/index.mjs`); default `dist`. */
  readonly outdir?: string;
  /** Entries to bundle; default every `.ts` file in functions/. */
  readonly entries?: readonly string[];
  /** Write a linked source map beside each bundle; default true. */
  readonly sourcemap?: boolean;
}

const ROOT = resolve(import.meta.dirname, "..");

export const functionEntries = (): string[] =>
  readdirSync(join(ROOT, "functions"))
    .filter((f) => f.endsWith(".ts"))
    .sort()
    .map((f) => join("functions", f));

/**
 * Modules of this repository (src/, infra/) do nothing at import time but define
 * things, so a module whose exports a role does not use can be dropped whole. Without
 * this, esbuild keeps every imported module with top-level calls (schemas, routers),
 * and every bundle carried every role.
 */
const projectModulesHaveNoSideEffects: Plugin = {
  name: "project-modules-have-no-side-effects",
  setup(b) {
    const project = [join(ROOT, "src"), join(ROOT, "infra")].map((dir) => `${dir}/`);
    b.onResolve({ filter: /^\./ }, async (args) => {
      if (args.pluginData === "resolving") return undefined;
      const result = await b.resolve(args.path, {
        kind: args.kind,
        importer: args.importer,
        resolveDir: args.resolveDir,
        pluginData: "resolving",
      });
      if (result.errors.length > 0 || !project.some((dir) => result.path.startsWith(dir))) return result;
      return { ...result, sideEffects: false };
    });
  },
};

/**
 * `import { z } from "zod"` makes esbuild keep all of zod, every locale included
 * (~450 KiB); `import * as z from "zod"` lets it keep only what is used (~90 KiB).
 * Both mean the same, so the bundle reads the second form. Once the sources use it,
 * this changes nothing.
 */
const zodNamespaceImports: Plugin = {
  name: "zod-namespace-imports",
  setup(b) {
    b.onLoad({ filter: /\/(src|infra)\/.*\.ts$/ }, (args) => ({
      contents: readFileSync(args.path, "utf8").replace(
        /^import \{ z \} from "zod";$/gm,
        'import * as z from "zod";',
      ),
      loader: "ts",
    }));
  },
};

export async function bundleFunctions(options: BundleOptions = {}): Promise<Bundle[]> {
  const outdir = options.outdir ?? join(ROOT, "dist");
  const entries = options.entries ?? functionEntries();
  return Promise.all(
    entries.map(async (entry): Promise<Bundle> => {
      const name = bundleName(entry);
      const outfile = join(bundleDir(outdir, entry), BUNDLE_FILE);
      const result: BuildResult<{ metafile: true }> = await build({
        absWorkingDir: ROOT,
        entryPoints: [entry],
        outfile,
        bundle: true,
        platform: "node",
        target: "node22",
        format: "esm",
        // ES module builds of dependencies first: they tree-shake, their CommonJS builds do not.
        mainFields: ["module", "main"],
        minify: true,
        sourcemap: options.sourcemap === false ? false : "linked",
        legalComments: "none",
        metafile: true,
        logLevel: "warning",
        plugins: [projectModulesHaveNoSideEffects, zodNamespaceImports],
        // Some CommonJS dependencies call require(); give the ESM bundle one.
        banner: {
          js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
        },
      });
      const output = result.metafile.outputs[relative(ROOT, outfile)];
      if (!output) throw new Error(`esbuild reported no output for ${entry}`);
      return { name, entry, outfile, bytes: output.bytes, metafile: result.metafile };
    }),
  );
}

/** The bytes each package (or source folder) contributes to a bundle, largest first. */
export function bundleContents(bundle: Bundle): [string, number][] {
  const sizes = new Map<string, number>();
  for (const output of Object.values(bundle.metafile.outputs)) {
    for (const [path, input] of Object.entries(output.inputs)) {
      const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path)?.[1];
      const key = pkg ?? path.split("/").slice(0, 2).join("/");
      sizes.set(key, (sizes.get(key) ?? 0) + input.bytesInOutput);
    }
  }
  return [...sizes].sort((a, b) => b[1] - a[1]);
}
