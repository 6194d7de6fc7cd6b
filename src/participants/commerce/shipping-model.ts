/**
 * Shipments: `schedule` books one for an order (the id must be new), `cancel`
 * ends it (its compensation). A cancelled shipment stays, so its id is never
 * taken again.
 */
import * as z from "zod";
import { accept, defineModel, refuse, resourceId } from "../../participant-kit/resource-model.ts";

export const SHIPMENT_STATUSES = ["scheduled", "cancelled"] as const;
export const shipmentState = z.object({
  status: z.enum(SHIPMENT_STATUSES),
  order: z.string(),
  address: z.string(),
});
export type ShipmentState = z.infer<typeof shipmentState>;

const shipmentId = resourceId("shipment");

export const shippingModel = defineModel({
  kind: "shipment",
  state: shipmentState,
  actions: (action) => ({
    schedule: action({
      input: z.strictObject({
        shipment: shipmentId,
        order: resourceId("order"),
        address: z
          .string()
          .trim()
          .min(1, "address must not be empty")
          .max(500, "address is at most 500 characters"),
      }),
      touches: (i) => [i.shipment],
      apply(i, shipments) {
        if (shipments.get(i.shipment).state) return refuse("shipment_exists");
        return accept({ id: i.shipment, state: { status: "scheduled", order: i.order, address: i.address } });
      },
    }),
    cancel: action({
      input: z.strictObject({ shipment: shipmentId }),
      touches: (i) => [i.shipment],
      apply(i, shipments) {
        const { state } = shipments.get(i.shipment);
        if (!state) return refuse("unknown_shipment");
        if (state.status === "cancelled") return accept();
        return accept({ id: i.shipment, state: { ...state, status: "cancelled" } });
      },
    }),
  }),
});
