/**
 * What the API knows about each participant: the actions it accepts and the
 * shape of their inputs, so bad input is refused before any state changes.
 * Built from the same resource models the participants run.
 */
import type { z } from "zod";
import { touchedBy } from "../participant-kit/planning.ts";
import {
  actionSchemas,
  MAX_RESOURCES_PER_WRITE,
  type ResourceModel,
  type ResourceState,
} from "../participant-kit/resource-model.ts";
import { builtInParticipants, type Deployment } from "./kinds.ts";

export interface ParticipantKind {
  readonly kind: string;
  readonly actions: Readonly<Record<string, z.ZodType>>;
  /**
   * A participant whose actions concord does not know (a registered HTTP service):
   * any action name matching this, with any JSON input, and only in these protocols.
   */
  readonly open?: { readonly actionName: RegExp; readonly protocols: readonly string[] };
  /**
   * It commits a transaction whose branches are all its own in one phase (one
   * write, no PREPARE/decision round): the participant kit's participants do. An
   * HTTP participant's contract has no such call, so it keeps two phases.
   */
  readonly onePhase?: boolean;
  /** Limits on all of one transaction's branches at this participant; a message when exceeded. */
  readonly checkGroup?: (branches: readonly { action: string; input: unknown }[]) => string | undefined;
}

export type Catalog = ReadonlyMap<string, ParticipantKind>;

/** A participant kind from its model: its actions, and at most what one atomic write can hold. */
export function kindOf<S extends ResourceState>(model: ResourceModel<S>, plural: string): ParticipantKind {
  return {
    kind: model.kind,
    actions: actionSchemas(model),
    onePhase: true,
    checkGroup(branches) {
      const n = touchedBy(
        model,
        branches.map((b, index) => ({ index, ...b })),
      ).length;
      return n > MAX_RESOURCES_PER_WRITE
        ? `touches ${n} ${plural}; at most ${MAX_RESOURCES_PER_WRITE} fit in one atomic prepare`
        : undefined;
    },
  };
}

/** Every built-in participant this deployment runs, each as its kind in the registry (kinds.ts). */
export function participantCatalog(config: Deployment): Catalog {
  return new Map(
    builtInParticipants(config).map(({ name, kind }) => [name, kindOf(kind.model, kind.plural)]),
  );
}

/** Action names an HTTP participant may be asked for: they travel in its request bodies and logs. */
export const HTTP_ACTION_NAME = /^[A-Za-z0-9_.:-]{1,64}$/;

/** A registered HTTP participant: its actions and inputs are its own business (opaque JSON). */
export const httpKind = (protocols: readonly string[]): ParticipantKind => ({
  kind: "http",
  actions: {},
  open: { actionName: HTTP_ACTION_NAME, protocols },
});
