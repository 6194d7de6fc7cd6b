import { defineConfig } from "vitest/config";

// The emulators accept any credentials; the SDK insists on having some.
const env = {
  AWS_ACCESS_KEY_ID: "test",
  AWS_SECRET_ACCESS_KEY: "test",
  AWS_REGION: "us-east-1",
};

/**
 * Three groups, one after another: the suite in parallel on the shared
 * emulators, then the simulation, then the chaos run. The last two measure
 * throughput and run against a time bound, so each gets the machine to itself;
 * the chaos run starts its own emulators and processes.
 */
const SIMULATION = "test/sim/**/*.test.ts";
const CHAOS = "test/chaos/**/*.test.ts";

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "suite",
          include: ["test/**/*.test.ts", "packages/*/test/**/*.test.ts"],
          exclude: [SIMULATION, CHAOS],
          globalSetup: ["test/helpers/emulators.ts"],
          testTimeout: 30_000,
          hookTimeout: 90_000,
          env,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: "simulation",
          include: [SIMULATION],
          testTimeout: 30_000,
          env,
          sequence: { groupOrder: 1 },
        },
      },
      {
        test: {
          name: "chaos",
          include: [CHAOS],
          testTimeout: 30_000,
          env,
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});
