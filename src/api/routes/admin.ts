import { Hono } from "hono";
import { type AdminOutcome, abortTransaction, retryTransaction } from "../../coordinator/admin.ts";
import type { CoordinatorDeps } from "../../coordinator/advance.ts";
import type { Policy } from "../../core/two-phase-commit.ts";
import { statusOf, toView } from "../../core/view.ts";
import { type Role, requireAdmin } from "../auth.ts";
import { ApiError, notFound } from "../errors.ts";
import { TX_ID } from "../schemas.ts";

type Env = { Variables: { role: Role } };

/** Operators' actions on one transaction, mounted under `/v1/transactions`. Admin key only. */
export function adminRoutes(deps: CoordinatorDeps & { readonly policy: Policy }) {
  const app = new Hono<Env>();

  const answer = (id: string, result: AdminOutcome, conflict: (phase: string) => string) => {
    switch (result.outcome) {
      case "not_found":
        throw notFound(`transaction ${id}`);
      case "conflict":
        throw new ApiError(409, "conflict", conflict(result.phase), {
          phase: result.phase,
          status: statusOf(result.phase),
        });
      case "done":
        return toView(result.tx);
    }
  };

  // An id that could never have been created is simply not found.
  const idOf = (raw: string) => {
    if (!TX_ID.test(raw)) throw notFound("transaction");
    return raw;
  };

  app.post("/:id/abort", requireAdmin, async (c) => {
    const id = idOf(c.req.param("id"));
    const result = await abortTransaction(deps, id);
    return c.json(
      answer(id, result, (phase) => `transaction ${id} is ${phase}: the decision is made and stands`),
    );
  });

  app.post("/:id/retry", requireAdmin, async (c) => {
    const id = idOf(c.req.param("id"));
    const result = await retryTransaction(deps, id);
    return c.json(answer(id, result, (phase) => `transaction ${id} is ${phase}: nothing is left to deliver`));
  });

  return app;
}
