/**
 * The e-commerce participants' resources: seed stock and customer balances
 * (admin), read SKUs, customers, orders and shipments. Only the participants
 * this deployment runs are served.
 */
import { Hono } from "hono";
import * as z from "zod";
import type { CommerceStores } from "../../participants/commerce/models.ts";
import type { Role } from "../auth.ts";
import { resourceRoutes } from "./resources.ts";

type Env = { Variables: { role: Role } };

const count = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
export const stockBody = z.strictObject({ stock: count });
export const balanceBody = z.strictObject({ balance: count });

export function commerceRoutes(stores: CommerceStores) {
  const app = new Hono<Env>();
  const { inventory, payment, order, shipping } = stores;
  if (inventory) {
    app.route(
      "/inventory",
      resourceRoutes({ store: inventory, participant: "inventory", noun: "sku", seed: stockBody }),
    );
  }
  if (payment) {
    app.route(
      "/payment/customers",
      resourceRoutes({ store: payment, participant: "payment", noun: "customer", seed: balanceBody }),
    );
  }
  if (order) app.route("/orders", resourceRoutes({ store: order, participant: "order", noun: "order" }));
  if (shipping) {
    app.route("/shipments", resourceRoutes({ store: shipping, participant: "shipping", noun: "shipment" }));
  }
  return app;
}
