/**
 * A balance per customer (minor units). `charge` takes from it (never below
 * zero), `refund` gives back: each is the other's compensation.
 */
import { quantityModel } from "../quantity.ts";

export const paymentModel = quantityModel({
  kind: "customer",
  field: "balance",
  amount: "amount",
  debit: "charge",
  credit: "refund",
  reasons: { unknown: "unknown_customer", insufficient: "insufficient_funds", overflow: "balance_overflow" },
});
export type CustomerState = { readonly balance: number };
