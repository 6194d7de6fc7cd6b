/**
 * What the Lambda bundles hold: production code only. The test machinery in
 * testkit/ (the simulation, the chaos run, the fault plan and its injection, the
 * invariant checker) must never reach a bundle, whatever a module under src/
 * imports; esbuild's metafile lists every input module of each bundle.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Bundle, bundleFunctions } from "../../scripts/bundle.ts";

const outdir = mkdtempSync(join(tmpdir(), "concord-bundle-contents-"));
let bundles: Bundle[] = [];

beforeAll(async () => {
  bundles = await bundleFunctions({ outdir, sourcemap: false });
}, 60_000);

afterAll(() => rmSync(outdir, { recursive: true, force: true }));

/** Every module esbuild read for a bundle, whether or not it kept bytes of it. */
const inputsOf = (bundle: Bundle): string[] => Object.keys(bundle.metafile.inputs);

describe("function bundles", () => {
  it("hold no testkit module", () => {
    expect(bundles.length).toBeGreaterThan(0);
    const testkit = bundles.flatMap((b) => inputsOf(b).filter((path) => path.startsWith("testkit/")));
    expect(testkit).toEqual([]);
  });

  it("are read from the sources the check looks at", () => {
    // The check above is only as good as the paths it reads: every bundle lists src/ modules.
    for (const bundle of bundles)
      expect(
        inputsOf(bundle).some((p) => p.startsWith("src/")),
        bundle.name,
      ).toBe(true);
  });
});
