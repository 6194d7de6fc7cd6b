/**
 * Read (and, for seeding, create or reset) the built-in participants'
 * resources over HTTP, one set of routes per kind, shaped by the registry
 * (participants/kinds.ts): bank accounts, SKUs, customers, orders, shipments.
 * A view shows the state, the version and, while a transaction holds it,
 * `lockedBy`. A kind with a quantity (a balance, a stock) shows beside it what
 * prepared transactions hold on it: `reserved` (debits that may still take it)
 * and `pending` (credits not yet applied), always, 0 when nothing is held.
 */
import type { Context } from "hono";
import * as z from "zod";
import { ResourceLockedError, ResourceReservedError } from "../../participant-kit/errors.ts";
import type { ParticipantStore } from "../../participant-kit/participant-store.ts";
import {
  ID_RULE,
  RESOURCE_ID,
  type Resource,
  type ResourceState,
} from "../../participant-kit/resource-model.ts";
import type { ResourceRoutesShape } from "../../participants/kinds.ts";
import { StaleRecordError } from "../../ports/errors.ts";
import type { Role } from "../auth.ts";
import { ApiError, badRequest, notFound } from "../errors.ts";
import { pathParam, type RouteSpec, RouteTable } from "../openapi/route-table.ts";
import { resourceView } from "../response-schemas.ts";

type Env = { Variables: { role: Role } };

/** One kind's resources as this deployment serves them: its participants, over its store. */
export interface ResourceMount {
  readonly routes: ResourceRoutesShape;
  /** The kind's participants this deployment runs; an `owner` path segment must name one. */
  readonly participants: readonly string[];
  readonly store: ParticipantStore<ResourceState>;
  /** The kind's quantity fields: each is shown with what is reserved and pending on it. */
  readonly quantities?: readonly string[];
}

/** A resource that exists: a lock placeholder of a transaction that creates it does not, yet. */
const exists = (
  r: Resource<ResourceState> | undefined,
): r is Resource<ResourceState> & { state: ResourceState } => r?.state !== undefined;

function resourceRoutes(mount: ResourceMount) {
  const { store, participants } = mount;
  const { noun, owner, seed } = mount.routes;
  const table = new RouteTable<Env>();
  const served = new Set(participants);
  const Noun = noun.charAt(0).toUpperCase() + noun.slice(1);
  const pathParams = {
    ...(owner
      ? {
          [owner.param]: {
            schema: participants.length > 0 ? z.enum(participants as [string, ...string[]]) : z.string(),
            description: `The ${owner.what}`,
          },
        }
      : {}),
    id: { schema: z.string().regex(RESOURCE_ID), description: `The ${noun}'s id: ${ID_RULE}` },
  };
  const getSpec = {
    method: "get",
    path: "/:id",
    operationId: `get${Noun}`,
    summary: `One ${noun}: its state, version, holds and lock`,
    tag: "resources",
    access: "key",
    pathParams,
    responses: { 200: { description: `The ${noun}`, schema: resourceView } },
    errors: [404, 503],
  } as const satisfies RouteSpec;

  /** Whose resources: named by the path when the kind has many participants, else its only one. */
  const participantOf = (c: Context<Env>): string => {
    const name = owner ? pathParam(c, owner.param) : participants[0];
    if (name === undefined || !served.has(name)) throw notFound(`${owner?.what ?? "participant"} ${name}`);
    return name;
  };

  const quantities = mount.quantities ?? [];
  /** One quantity: `reserved` and `pending`; several: the same, each by field. */
  const holdsView = (r: Resource<ResourceState>) => {
    const of = (f: string) => r.holds?.[f] ?? { reserved: 0, pending: 0 };
    const [only] = quantities;
    if (only === undefined) return {};
    if (quantities.length === 1) return of(only);
    return {
      reserved: Object.fromEntries(quantities.map((f) => [f, of(f).reserved])),
      pending: Object.fromEntries(quantities.map((f) => [f, of(f).pending])),
    };
  };

  const view = (participant: string, r: Resource<ResourceState> & { state: ResourceState }) => ({
    ...(owner ? { [owner.param]: participant } : {}),
    [noun]: r.id,
    ...r.state,
    ...holdsView(r),
    version: r.version,
    ...(r.lockedBy !== undefined ? { lockedBy: r.lockedBy } : {}),
  });

  const idOf = (raw: string): string => {
    if (!RESOURCE_ID.test(raw)) throw notFound(`${noun} ${raw}`);
    return raw;
  };
  /** A create names an id that must follow the rule: breaking it is the caller's error, and says why. */
  const newIdOf = (raw: string): string => {
    if (!RESOURCE_ID.test(raw)) throw badRequest(`${noun} ${ID_RULE}`, [{ path: noun, message: ID_RULE }]);
    return raw;
  };

  table.add(getSpec, async (c) => {
    const participant = participantOf(c);
    const id = idOf(pathParam(c, "id"));
    const found = await store.getResource(participant, id);
    if (!exists(found)) throw notFound(owner ? `${noun} ${id} on ${participant}` : `${noun} ${id}`);
    return c.json(view(participant, found));
  });

  if (seed) {
    const putSpec = {
      method: "put",
      path: "/:id",
      operationId: `put${Noun}`,
      summary: `Create or reset a ${noun} (admin, for seeding and tests)`,
      tag: "resources",
      access: "admin",
      pathParams,
      body: { schema: seed },
      responses: { 200: { description: `The ${noun} as written`, schema: resourceView } },
      errors: [404, 409, 503],
    } as const satisfies RouteSpec;
    table.add(putSpec, async (c, { body: state }) => {
      const participant = participantOf(c);
      const id = newIdOf(pathParam(c, "id"));
      try {
        const written = await store.putResource(participant, id, state);
        if (!exists(written)) throw new Error(`${noun} ${id} was written without its state`);
        return c.json(view(participant, written));
      } catch (err) {
        if (err instanceof ResourceLockedError) {
          const code = mount.routes.lockedCode ?? "resource_locked";
          const message = `${noun} ${id} is locked by transaction ${err.lockedBy}`;
          throw new ApiError(409, code, message, { lockedBy: err.lockedBy });
        }
        if (err instanceof ResourceReservedError) {
          const message = `${noun} ${id} holds reservations of prepared transactions; try again once they are decided`;
          throw new ApiError(409, "resource_reserved", message);
        }
        if (err instanceof StaleRecordError)
          throw new ApiError(409, "conflict", `the ${noun} changed; try again`);
        throw err;
      }
    });
  }

  return table;
}

/** Every built-in kind's resource routes, each at its own path. */
export function participantResourceRoutes(mounts: readonly ResourceMount[]) {
  const table = new RouteTable<Env>();
  for (const mount of mounts) table.mount(mount.routes.path, resourceRoutes(mount));
  return table;
}
