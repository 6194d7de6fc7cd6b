/**
 * A balance per customer (minor units). `charge` takes from it (never below
 * zero), `refund` gives back: each is the other's compensation.
 */
import * as z from "zod";
import { accept, defineModel, refuse, resourceId } from "../../participant-kit/resource-model.ts";
import { nonNegative, positive } from "./quantities.ts";

export const customerState = z.object({ balance: nonNegative });
export type CustomerState = z.infer<typeof customerState>;

const payment = z.strictObject({ customer: resourceId("customer"), amount: positive("amount") });

export const paymentModel = defineModel({
  kind: "customer",
  state: customerState,
  actions: (action) => ({
    charge: action({
      input: payment,
      touches: (i) => [i.customer],
      apply(i, customers) {
        const { state } = customers.get(i.customer);
        if (!state) return refuse("unknown_customer");
        if (state.balance < i.amount) return refuse("insufficient_funds");
        return accept({ id: i.customer, state: { balance: state.balance - i.amount } });
      },
    }),
    refund: action({
      input: payment,
      touches: (i) => [i.customer],
      apply(i, customers) {
        const { state } = customers.get(i.customer);
        if (!state) return refuse("unknown_customer");
        if (state.balance + i.amount > Number.MAX_SAFE_INTEGER) return refuse("balance_overflow");
        return accept({ id: i.customer, state: { balance: state.balance + i.amount } });
      },
    }),
  }),
});
