#!/usr/bin/env node
// The `concord` command (package.json "bin"): src/local/cli.ts, run from its
// TypeScript source through tsx, with nothing but node on the PATH.
import { register } from "tsx/esm/api";

register();
await import("../src/local/cli.ts");
