/**
 * The registry of built-in participant kinds, one line each: the resource
 * model, what the catalog calls many of its resources, how its resources are
 * served under /v1, and the external service it fronts, if any. A kind's
 * table is named after it (infra/topology.ts). The catalog, the stores, the
 * resource routes and the participants themselves are all built from here.
 *
 * A kind runs as one participant per bank server (`bank`), or as one
 * participant named after it (the e-commerce kinds, chosen by
 * CONCORD_COMMERCE_PARTICIPANTS from the names in commerce/names.ts).
 */
import * as z from "zod";
import type { ExternalService } from "../participant-kit/kit-deps.ts";
import type { ResourceModel, ResourceState } from "../participant-kit/resource-model.ts";
import { bankModel } from "./bank/bank-rules.ts";
import { inventoryModel } from "./commerce/inventory-model.ts";
import type { CommerceParticipantName } from "./commerce/names.ts";
import { orderModel } from "./commerce/order-model.ts";
import { paymentModel } from "./commerce/payment-model.ts";
import { shippingModel } from "./commerce/shipping-model.ts";
import { unreliableService } from "./commerce/unreliable-service.ts";
import { nonNegative } from "./quantity.ts";

/** How a kind's resources are read (and, with `seed`, created or reset by an admin) over HTTP. */
export interface ResourceRoutesShape {
  /** Under /v1; with `owner`, its `:<param>` segment names which of the kind's participants. */
  readonly path: string;
  /** What one resource is called, in views and messages (`account`, `sku`, ...). */
  readonly noun: string;
  /** A kind with many participants: the path segment that names one, and what a 404 calls it. */
  readonly owner?: { readonly param: string; readonly what: string };
  /** The body of an admin PUT; without it the resources are read-only. */
  readonly seed?: z.ZodType<ResourceState>;
  /** The 409 code while a transaction holds one (the bank's own name for it predates the others). */
  readonly lockedCode?: "account_locked";
}

export interface BuiltInKind {
  readonly model: ResourceModel<ResourceState>;
  /** Many of its resources, for the catalog's "touches N ..." message. */
  readonly plural: string;
  readonly routes: ResourceRoutesShape;
  /** The external service it must hear from before it records an effect (none when undefined). */
  readonly service?: (settings: ServiceSettings) => ExternalService | undefined;
}

/** What the services a kind fronts are configured with (the simulated payment provider; `config.commerce`). */
export interface ServiceSettings {
  readonly payment: { readonly failureRate: number; readonly latencyMs: number };
}

const count = (field: string) => z.strictObject({ [field]: nonNegative });

const KINDS = {
  bank: {
    model: bankModel,
    plural: "accounts on one server",
    routes: {
      path: "/bank/:server/accounts",
      noun: "account",
      owner: { param: "server", what: "bank server" },
      seed: count("balance"),
      lockedCode: "account_locked",
    },
  },
  inventory: {
    model: inventoryModel,
    plural: "SKUs",
    routes: { path: "/inventory", noun: "sku", seed: count("stock") },
  },
  payment: {
    model: paymentModel,
    plural: "customers",
    routes: { path: "/payment/customers", noun: "customer", seed: count("balance") },
    service: ({ payment }) => unreliableService({ ...payment, reason: "payment_provider_unavailable" }),
  },
  order: { model: orderModel, plural: "orders", routes: { path: "/orders", noun: "order" } },
  shipping: { model: shippingModel, plural: "shipments", routes: { path: "/shipments", noun: "shipment" } },
} as const satisfies Record<"bank" | CommerceParticipantName, BuiltInKind>;

export type KindName = keyof typeof KINDS;
/** Every built-in kind by name; its table has the same name. */
export const PARTICIPANT_KINDS: Readonly<Record<KindName, BuiltInKind>> = KINDS;
export const KIND_NAMES = Object.keys(KINDS) as KindName[];

/** Which participants a deployment runs (the `Config` fields that say so). */
export interface Deployment {
  readonly bankServers: readonly string[];
  readonly commerce: { readonly participants: readonly string[] };
}

/** The participants of one kind this deployment runs. */
export const participantsOf = (config: Deployment, kind: KindName): readonly string[] =>
  kind === "bank" ? config.bankServers : config.commerce.participants.includes(kind) ? [kind] : [];

export interface BuiltInParticipant {
  readonly name: string;
  readonly kind: BuiltInKind;
  /** The logical name of its kind's table, which is the kind's name. */
  readonly table: KindName;
}

/** Every built-in participant this deployment runs, kind by kind. */
export const builtInParticipants = (config: Deployment): BuiltInParticipant[] =>
  KIND_NAMES.flatMap((table) =>
    participantsOf(config, table).map((name) => ({ name, kind: PARTICIPANT_KINDS[table], table })),
  );

/** The built-in participant `name`, or an error naming what this deployment runs. */
export function builtInParticipant(config: Deployment, name: string): BuiltInParticipant {
  const all = builtInParticipants(config);
  const found = all.find((p) => p.name === name);
  if (!found) {
    throw new Error(
      `no built-in participant ${name}; this deployment runs ${all.map((p) => p.name).join(", ")}`,
    );
  }
  return found;
}
