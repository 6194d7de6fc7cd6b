/**
 * Orders: `create` makes a pending order (the id must be new), `confirm` moves
 * it pending → confirmed, `cancel` ends it (the compensation of both). A
 * cancelled order stays, so its id is never taken again.
 */
import * as z from "zod";
import { accept, defineModel, refuse, resourceId } from "../../participant-kit/resource-model.ts";
import { positive } from "../quantity.ts";

export const ORDER_STATUSES = ["pending", "confirmed", "cancelled"] as const;
export const orderState = z.object({
  status: z.enum(ORDER_STATUSES),
  customer: z.string(),
  total: z.number().int().nonnegative(),
});
export type OrderState = z.infer<typeof orderState>;

const orderId = resourceId("order");

export const orderModel = defineModel({
  kind: "order",
  state: orderState,
  actions: (action) => ({
    create: action({
      input: z.strictObject({ order: orderId, customer: resourceId("customer"), total: positive("total") }),
      touches: (i) => [i.order],
      apply(i, orders) {
        if (orders.get(i.order).state) return refuse("order_exists");
        return accept({ id: i.order, state: { status: "pending", customer: i.customer, total: i.total } });
      },
    }),
    confirm: action({
      input: z.strictObject({ order: orderId }),
      touches: (i) => [i.order],
      apply(i, orders) {
        const { state } = orders.get(i.order);
        if (!state) return refuse("unknown_order");
        if (state.status !== "pending") return refuse("order_not_pending");
        return accept({ id: i.order, state: { ...state, status: "confirmed" } });
      },
    }),
    cancel: action({
      input: z.strictObject({ order: orderId }),
      touches: (i) => [i.order],
      apply(i, orders) {
        const { state } = orders.get(i.order);
        if (!state) return refuse("unknown_order");
        // Cancelling a cancelled order changes nothing: a compensation may meet it so.
        if (state.status === "cancelled") return accept();
        return accept({ id: i.order, state: { ...state, status: "cancelled" } });
      },
    }),
  }),
});
