/**
 * Stock per SKU. `reserve` takes stock (never below zero), `release` puts it
 * back: each is the other's compensation.
 */
import * as z from "zod";
import { accept, defineModel, refuse, resourceId } from "../../participant-kit/resource-model.ts";
import { nonNegative, positive } from "./quantities.ts";

export const skuState = z.object({ stock: nonNegative });
export type SkuState = z.infer<typeof skuState>;

const movement = z.strictObject({ sku: resourceId("sku"), quantity: positive("quantity") });

export const inventoryModel = defineModel({
  kind: "sku",
  state: skuState,
  actions: (action) => ({
    reserve: action({
      input: movement,
      touches: (i) => [i.sku],
      apply(i, skus) {
        const { state } = skus.get(i.sku);
        if (!state) return refuse("unknown_sku");
        if (state.stock < i.quantity) return refuse("insufficient_stock");
        return accept({ id: i.sku, state: { stock: state.stock - i.quantity } });
      },
    }),
    release: action({
      input: movement,
      touches: (i) => [i.sku],
      apply(i, skus) {
        const { state } = skus.get(i.sku);
        if (!state) return refuse("unknown_sku");
        if (state.stock + i.quantity > Number.MAX_SAFE_INTEGER) return refuse("stock_overflow");
        return accept({ id: i.sku, state: { stock: state.stock + i.quantity } });
      },
    }),
  }),
});
