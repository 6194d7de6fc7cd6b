import type { Logger } from "@aws-lambda-powertools/logger";
import { type AdminOutcome, abortTransaction, retryTransaction } from "../../coordinator/admin.ts";
import type { CoordinatorDeps } from "../../coordinator/advance.ts";
import type { Policy } from "../../core/two-phase-commit.ts";
import { statusOf, toView } from "../../core/view.ts";
import type { Role } from "../auth.ts";
import { ApiError, notFound } from "../errors.ts";
import { pathParam, type RouteSpec, RouteTable } from "../openapi/route-table.ts";
import { transactionView } from "../response-schemas.ts";
import { TX_ID, txId } from "../schemas.ts";

type Env = { Variables: { role: Role; log?: Logger } };

const adminSpec = (action: "abort" | "retry", summary: string, conflict: string) =>
  ({
    method: "post",
    path: `/:id/${action}`,
    operationId: `${action}Transaction`,
    summary,
    tag: "transactions",
    access: "admin",
    pathParams: { id: { schema: txId, description: "The transaction's id" } },
    responses: { 200: { description: "Done: the transaction as it is now", schema: transactionView } },
    description: `409 \`conflict\` (details: \`phase\`, \`status\`) ${conflict}.`,
    errors: [404, 409, 503],
  }) as const satisfies RouteSpec;

const abortSpec = adminSpec(
  "abort",
  "Abort an undecided transaction (admin)",
  "when the decision is already made: it stands",
);
const retrySpec = adminSpec(
  "retry",
  "Re-deliver what the transaction waits for now, and reset its backoff (admin)",
  "when it is final: nothing is left to deliver",
);

/** Operators' actions on one transaction, mounted under `/v1/transactions`. Admin key only. */
export function adminRoutes(deps: CoordinatorDeps & { readonly policy: Policy }) {
  const table = new RouteTable<Env>();

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

  /** The use case logs through the request's logger, with the transaction's id on every line. */
  const withTxLog = (c: { get(key: "log"): Logger | undefined }, txId: string) => ({
    ...deps,
    log: (c.get("log") ?? deps.log).createChild({ persistentKeys: { txId } }),
  });

  // An id that could never have been created is simply not found.
  const idOf = (raw: string) => {
    if (!TX_ID.test(raw)) throw notFound("transaction");
    return raw;
  };

  table.add(abortSpec, async (c) => {
    const id = idOf(pathParam(c, "id"));
    const result = await abortTransaction(withTxLog(c, id), id);
    return c.json(
      answer(id, result, (phase) => `transaction ${id} is ${phase}: the decision is made and stands`),
    );
  });

  table.add(retrySpec, async (c) => {
    const id = idOf(pathParam(c, "id"));
    const result = await retryTransaction(withTxLog(c, id), id);
    return c.json(answer(id, result, (phase) => `transaction ${id} is ${phase}: nothing is left to deliver`));
  });

  return table;
}
