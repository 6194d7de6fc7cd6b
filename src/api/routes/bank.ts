import { Hono } from "hono";
import { StaleRecordError } from "../../adapters/errors.ts";
import { ResourceLockedError } from "../../participant-kit/errors.ts";
import { ID_RULE, type Resource } from "../../participant-kit/resource-model.ts";
import { ACCOUNT_ID, type AccountState } from "../../participants/bank/bank-rules.ts";
import type { BankStore } from "../../participants/bank/bank-store.ts";
import { type Role, requireAdmin } from "../auth.ts";
import { parseBody } from "../body.ts";
import { ApiError, badRequest, notFound } from "../errors.ts";
import { accountBody } from "../schemas.ts";

type Env = { Variables: { role: Role } };

const accountView = (server: string, a: Resource<AccountState> & { state: AccountState }) => ({
  server,
  account: a.id,
  balance: a.state.balance,
  version: a.version,
  ...(a.lockedBy !== undefined ? { lockedBy: a.lockedBy } : {}),
});

const exists = (
  a: Resource<AccountState> | undefined,
): a is Resource<AccountState> & { state: AccountState } => a?.state !== undefined;

export function bankRoutes(deps: { readonly bank: BankStore; readonly servers: readonly string[] }) {
  const app = new Hono<Env>();
  const servers = new Set(deps.servers);

  const target = (server: string, account: string) => {
    if (!servers.has(server)) throw notFound(`bank server ${server}`);
    if (!ACCOUNT_ID.test(account)) throw notFound(`account ${account}`);
    return { server, account };
  };

  app.get("/:server/accounts/:account", async (c) => {
    const { server, account } = target(c.req.param("server"), c.req.param("account"));
    const found = await deps.bank.getResource(server, account);
    if (!exists(found)) throw notFound(`account ${account} on ${server}`);
    return c.json(accountView(server, found));
  });

  app.put("/:server/accounts/:account", requireAdmin, async (c) => {
    const server = c.req.param("server");
    const account = c.req.param("account");
    if (!servers.has(server)) throw notFound(`bank server ${server}`);
    // A create names an id that must follow the rule: breaking it is the caller's error, and says why.
    if (!ACCOUNT_ID.test(account)) {
      throw badRequest(`account ${ID_RULE}`, [{ path: "account", message: ID_RULE }]);
    }
    const { balance } = await parseBody(c, accountBody);
    try {
      const written = await deps.bank.putResource(server, account, { balance });
      if (!exists(written)) throw new Error(`account ${account} on ${server} was written without a balance`);
      return c.json(accountView(server, written));
    } catch (err) {
      if (err instanceof ResourceLockedError) {
        throw new ApiError(
          409,
          "account_locked",
          `account ${account} is locked by transaction ${err.lockedBy}`,
          {
            lockedBy: err.lockedBy,
          },
        );
      }
      if (err instanceof StaleRecordError)
        throw new ApiError(409, "conflict", "the account changed; try again");
      throw err;
    }
  });

  return app;
}
