/**
 * The e-commerce participants on the participant kit: each one's model, and
 * for payment the unreliable provider it fronts.
 */
import {
  createParticipant,
  type Participant,
  type ParticipantDeps,
} from "../../participant-kit/participant.ts";
import type { ResourceState } from "../../participant-kit/resource-model.ts";
import { inventoryModel } from "./inventory-model.ts";
import type { CommerceStores } from "./models.ts";
import type { CommerceParticipantName } from "./names.ts";
import { orderModel } from "./order-model.ts";
import { paymentModel } from "./payment-model.ts";
import { shippingModel } from "./shipping-model.ts";
import { unreliableService } from "./unreliable-service.ts";

export interface PaymentSimulation {
  /** Probability in [0, 1] that a call to the payment provider fails (transiently). */
  readonly failureRate: number;
  readonly latencyMs: number;
}

type CommonDeps = Omit<ParticipantDeps<ResourceState>, "name" | "model" | "store" | "service">;

export function createCommerceParticipant(
  name: CommerceParticipantName,
  deps: CommonDeps & { readonly stores: CommerceStores; readonly payment: PaymentSimulation },
): Participant {
  const { stores, payment, ...common } = deps;
  const missing = () => new Error(`no store for the ${name} participant`);
  switch (name) {
    case "inventory": {
      if (!stores.inventory) throw missing();
      return createParticipant({ ...common, name, model: inventoryModel, store: stores.inventory });
    }
    case "payment": {
      if (!stores.payment) throw missing();
      const service = unreliableService({ ...payment, reason: "payment_provider_unavailable" });
      return createParticipant({
        ...common,
        name,
        model: paymentModel,
        store: stores.payment,
        ...(service ? { service } : {}),
      });
    }
    case "order": {
      if (!stores.order) throw missing();
      return createParticipant({ ...common, name, model: orderModel, store: stores.order });
    }
    case "shipping": {
      if (!stores.shipping) throw missing();
      return createParticipant({ ...common, name, model: shippingModel, store: stores.shipping });
    }
  }
}
