/** Each e-commerce participant's resource model, by participant name. */
import type { ParticipantStore } from "../../participant-kit/participant-store.ts";
import { inventoryModel, type SkuState } from "./inventory-model.ts";
import { type OrderState, orderModel } from "./order-model.ts";
import { type CustomerState, paymentModel } from "./payment-model.ts";
import { type ShipmentState, shippingModel } from "./shipping-model.ts";

export const commerceModels = {
  inventory: inventoryModel,
  payment: paymentModel,
  order: orderModel,
  shipping: shippingModel,
} as const;

/** Each participant's store, typed by its resources; absent for participants not configured. */
export interface CommerceStores {
  readonly inventory?: ParticipantStore<SkuState>;
  readonly payment?: ParticipantStore<CustomerState>;
  readonly order?: ParticipantStore<OrderState>;
  readonly shipping?: ParticipantStore<ShipmentState>;
}
