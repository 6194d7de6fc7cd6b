/**
 * Stock per SKU. `reserve` takes stock (never below zero), `release` puts it
 * back: each is the other's compensation.
 */
import { quantityModel } from "../quantity.ts";

export const inventoryModel = quantityModel({
  kind: "sku",
  field: "stock",
  amount: "quantity",
  debit: "reserve",
  credit: "release",
  reasons: { unknown: "unknown_sku", insufficient: "insufficient_stock", overflow: "stock_overflow" },
});
export type SkuState = { readonly stock: number };
