/**
 * Read (and, for seeding, reset) one participant's resources over HTTP: the
 * e-commerce participants' SKUs, customers, orders and shipments. A view shows
 * the state, the version and, while a transaction holds it, `lockedBy`.
 */
import { Hono } from "hono";
import type * as z from "zod";
import { StaleRecordError } from "../../adapters/errors.ts";
import { ResourceLockedError } from "../../participant-kit/errors.ts";
import type { ParticipantStore } from "../../participant-kit/participant-store.ts";
import {
  ID_RULE,
  RESOURCE_ID,
  type Resource,
  type ResourceState,
} from "../../participant-kit/resource-model.ts";
import { type Role, requireAdmin } from "../auth.ts";
import { parseBody } from "../body.ts";
import { ApiError, badRequest, notFound } from "../errors.ts";

type Env = { Variables: { role: Role } };

export interface ResourceRoutesSpec<S extends ResourceState> {
  readonly store: ParticipantStore<S>;
  readonly participant: string;
  /** What one resource is called, in views and messages (`sku`, `customer`, `order`). */
  readonly noun: string;
  /** The body of an admin PUT that creates or resets one; without it the resources are read-only. */
  readonly seed?: z.ZodType<S>;
}

/** A resource that exists: a lock placeholder of a transaction that creates it does not, yet. */
const exists = <S extends ResourceState>(r: Resource<S> | undefined): r is Resource<S> & { state: S } =>
  r?.state !== undefined;

export function resourceRoutes<S extends ResourceState>(spec: ResourceRoutesSpec<S>) {
  const { store, participant, noun } = spec;
  const app = new Hono<Env>();

  const view = (r: Resource<S> & { state: S }) => ({
    [noun]: r.id,
    ...r.state,
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

  app.get("/:id", async (c) => {
    const id = idOf(c.req.param("id"));
    const found = await store.getResource(participant, id);
    if (!exists(found)) throw notFound(`${noun} ${id}`);
    return c.json(view(found));
  });

  const { seed } = spec;
  if (seed) {
    app.put("/:id", requireAdmin, async (c) => {
      const id = newIdOf(c.req.param("id"));
      const state = await parseBody(c, seed);
      try {
        const written = await store.putResource(participant, id, state);
        if (!exists(written)) throw new Error(`${noun} ${id} was written without its state`);
        return c.json(view(written));
      } catch (err) {
        if (err instanceof ResourceLockedError) {
          throw new ApiError(
            409,
            "resource_locked",
            `${noun} ${id} is locked by transaction ${err.lockedBy}`,
            {
              lockedBy: err.lockedBy,
            },
          );
        }
        if (err instanceof StaleRecordError)
          throw new ApiError(409, "conflict", `the ${noun} changed; try again`);
        throw err;
      }
    });
  }

  return app;
}
