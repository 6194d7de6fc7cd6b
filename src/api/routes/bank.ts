import { Hono } from "hono";
import { StaleRecordError } from "../../adapters/errors.ts";
import { ACCOUNT_ID } from "../../participants/bank/bank-rules.ts";
import {
  AccountLockedError,
  type BankStore,
  type StoredAccount,
} from "../../participants/bank/bank-store.ts";
import { type Role, requireAdmin } from "../auth.ts";
import { parseBody } from "../body.ts";
import { ApiError, notFound } from "../errors.ts";
import { accountBody } from "../schemas.ts";

type Env = { Variables: { role: Role } };

const accountView = (a: StoredAccount) => ({
  server: a.server,
  account: a.account,
  balance: a.balance,
  version: a.version,
  ...(a.lockedBy !== undefined ? { lockedBy: a.lockedBy } : {}),
});

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
    const found = await deps.bank.getAccount(server, account);
    if (!found) throw notFound(`account ${account} on ${server}`);
    return c.json(accountView(found));
  });

  app.put("/:server/accounts/:account", requireAdmin, async (c) => {
    const { server, account } = target(c.req.param("server"), c.req.param("account"));
    const { balance } = await parseBody(c, accountBody);
    try {
      return c.json(accountView(await deps.bank.putAccount(server, account, balance)));
    } catch (err) {
      if (err instanceof AccountLockedError) {
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
