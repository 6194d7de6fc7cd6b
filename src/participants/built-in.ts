/**
 * A built-in participant on the participant kit: its kind's model over its
 * store, and the service its kind fronts (kinds.ts). Everything that makes it
 * safe (barriers, locks, lock policies, in-doubt inquiry, saga step barriers)
 * is the kit's.
 */
import { createParticipant, type Participant, type ParticipantDeps } from "../participant-kit/participant.ts";
import type { ResourceState } from "../participant-kit/resource-model.ts";
import type { BuiltInKind, ServiceSettings } from "./kinds.ts";

export type BuiltInParticipantDeps = Omit<ParticipantDeps<ResourceState>, "name" | "model" | "service"> & {
  readonly settings: ServiceSettings;
};

export function createBuiltInParticipant(
  name: string,
  kind: BuiltInKind,
  deps: BuiltInParticipantDeps,
): Participant {
  const { settings, ...rest } = deps;
  const service = kind.service?.(settings);
  return createParticipant({ ...rest, name, model: kind.model, ...(service ? { service } : {}) });
}
