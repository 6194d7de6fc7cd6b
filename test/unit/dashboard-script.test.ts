/**
 * The dashboard's browser code is served from a generated module; this fails
 * when client/dashboard.ts changed and `npm run build:ui` was not run.
 */
import { readFileSync } from "node:fs";
import { expect, it } from "vitest";
import { DASHBOARD_OUTPUT, dashboardScriptModule } from "../../scripts/build-ui.ts";

it("serves the browser code as it is now (npm run build:ui after changing src/api/ui/client/)", async () => {
  expect(readFileSync(DASHBOARD_OUTPUT, "utf8")).toBe(await dashboardScriptModule());
});
