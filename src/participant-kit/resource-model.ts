/**
 * What a team writes to make a participant out of its own resources: the
 * resource kind, the shape of its state, and each action as a pure function
 * from the resources as read to their new states (or a business no). The kit
 * (participant.ts) turns that into 2PC votes and saga steps with barriers,
 * locks and conditional writes; the model never sees any of it.
 */
import * as z from "zod";

/** A resource's state: flat attributes, stored as top-level attributes of its DynamoDB item. */
export type ResourceState = { readonly [attribute: string]: string | number | boolean };

/** Resource ids go into keys (`<kind>#<participant>#<id>`): no `#`, no spaces. */
export const RESOURCE_ID = /^[A-Za-z0-9_.:-]{1,128}$/;
/** The id rule in words, after the noun: "sku ids are ...". */
export const ID_RULE = "ids are 1-128 characters of A-Z a-z 0-9 _ . : -";
export const resourceId = (what: string) => z.string().regex(RESOURCE_ID, `${what} ${ID_RULE}`);

/** A DynamoDB TransactWriteItems holds at most 100 items: one is the barrier. */
export const MAX_RESOURCES_PER_WRITE = 99;

/**
 * A resource as stored. `version` counts committed changes (0: never written);
 * `state` is absent when the resource does not exist yet (or is only a lock
 * placeholder for a 2PC transaction that creates it).
 */
export interface Resource<S extends ResourceState> {
  readonly id: string;
  readonly version: number;
  readonly state?: S;
  readonly lockedBy?: string;
  readonly lockedAt?: number;
  /** When the lock holder's transaction started: its age for wait-die. */
  readonly lockedByStartedAt?: number;
  /**
   * The lock holder's attempt (2PC restarts; absent: the first). A waiter's
   * report names it, so a late copy of the report is not taken for a wait on
   * the holder's next attempt.
   */
  readonly lockedByAttempt?: number;
  /** Per quantity field, what prepared transactions hold on it; absent when nothing is held. */
  readonly holds?: Readonly<Record<string, Hold>>;
}

/**
 * What prepared transactions hold on one quantity (the escrow method): debits
 * `reserved` against the committed value, credits `pending` on top of it. What a
 * debit may take is `value - reserved`; no order of commits can go below zero.
 */
export interface Hold {
  readonly reserved: number;
  readonly pending: number;
}

/** How a model words the refusals of a quantity, as its own actions would. */
export interface QuantitySpec {
  readonly insufficient: string;
  readonly overflow: string;
}

/** What an action sees of one resource: the state so far in its group, and the version as read. */
export interface ResourceSnapshot<S extends ResourceState> {
  readonly state?: S;
  readonly version: number;
}

/** The resources an action touches, and only those. */
export interface ResourceView<S extends ResourceState> {
  get(id: string): ResourceSnapshot<S>;
}

export type ActionOutcome<S extends ResourceState> =
  | { readonly ok: true; readonly set: readonly { readonly id: string; readonly state: S }[] }
  | { readonly ok: false; readonly reason: string };

export const accept = <S extends ResourceState>(
  ...set: { readonly id: string; readonly state: S }[]
): ActionOutcome<S> => ({ ok: true, set });
export const refuse = <S extends ResourceState>(reason: string): ActionOutcome<S> => ({ ok: false, reason });

/** Per resource id, per quantity field, the amount an action moves it by (negative: a debit). */
export type DeclaredMoves = Readonly<Record<string, Readonly<Record<string, number>>>>;

/** One action of a model, its input type erased (the kit only ever calls it with its schema's output). */
export interface Action<S extends ResourceState> {
  readonly input: z.ZodType;
  touches(input: unknown): readonly string[];
  stable?(input: unknown): boolean;
  moves?(input: unknown): DeclaredMoves | undefined;
  apply(input: unknown, resources: ResourceView<S>): ActionOutcome<S>;
}

export interface ActionSpec<S extends ResourceState, I> {
  readonly input: z.ZodType<I>;
  /** Every resource the action reads or writes: the kit locks (2PC) or version-checks (saga) each. */
  touches(input: I): readonly string[];
  /**
   * True when this input must see a stable value (it checks a version): its
   * resources are then locked exclusively even where a reservation would do.
   */
  stable?(input: I): boolean;
  /**
   * What this input moves, known from the input alone: per resource, per
   * quantity field, the amount (negative: a debit). Declared, a 2PC PREPARE of
   * it is written without reading first (the blind prepare, docs/participants.md).
   * The contract, which `apply` must keep for every input this returns moves for:
   *
   * - when `apply` accepts, it changes exactly these fields of exactly these
   *   resources by exactly these amounts, and nothing else;
   * - it accepts exactly when every resource it names exists and, on the
   *   quantities as the kit shows them (what is available), no debit goes below
   *   zero and no credit past Number.MAX_SAFE_INTEGER.
   *
   * Undefined for an input of which that is not true (one that checks a
   * version, say): such an input is read and judged. Every resource `touches`
   * names must have a move, or the input is read too. Whenever the kit does read,
   * it checks `apply` against the declaration and throws ModelContractError where
   * they differ, so a wrong declaration fails its first test instead of preparing
   * wrong amounts.
   */
  moves?(input: I): DeclaredMoves | undefined;
  /** Pure: no I/O, no clock. A resource that does not exist has no `state`. */
  apply(input: I, resources: ResourceView<S>): ActionOutcome<S>;
}

/** Types one action against its input schema; the model holds them side by side. */
export type ActionBuilder<S extends ResourceState> = <I>(spec: ActionSpec<S, I>) => Action<S>;

// The kit calls `touches` and `apply` only with the output of `input`, so erasing I is safe.
const action = <S extends ResourceState, I>(spec: ActionSpec<S, I>): Action<S> =>
  spec as unknown as Action<S>;

export interface ResourceModel<S extends ResourceState> {
  /** The resource kind, first part of its items' keys (`account`, `sku`, ...). */
  readonly kind: string;
  /** Validates a state read back from the table and every state an action produces. */
  readonly state: z.ZodType<S>;
  /** The state's attribute names. */
  readonly stateKeys: readonly string[];
  /**
   * The state's quantity fields (non-negative integers that actions only add to
   * and take from): a 2PC branch reserves against them instead of locking the
   * resource, and a saga step moves them without a version check.
   */
  readonly quantities: Readonly<Record<string, QuantitySpec>>;
  readonly actions: Readonly<Record<string, Action<S>>>;
}

/** Item attributes the store writes itself; a state may not use them. */
export const RESERVED_ATTRIBUTES: ReadonlySet<string> = new Set([
  "pk",
  "kind",
  "participant",
  "id",
  "version",
  "lockedBy",
  "lockedAt",
  "lockedByStartedAt",
  "lockedByAttempt",
  "expiresAt",
  "txId",
  "state",
]);

/**
 * The attributes a store may keep beside a quantity `field` for its holds
 * (what is available to debits, what credits may add up to); no state may use them.
 */
export const holdAttributes = (field: string) => [`${field}Available`, `${field}Promised`] as const;

const KIND = /^[a-z][a-z0-9-]{0,31}$/;

export class ModelDefinitionError extends Error {
  override name = "ModelDefinitionError";
}

/**
 * Checks a model once, where it is defined: a kind that fits a key, state
 * attributes that do not collide with the store's own, at least one action.
 */
export function defineModel<S extends ResourceState>(definition: {
  readonly kind: string;
  readonly state: z.ZodObject & z.ZodType<S>;
  /** Which state fields are quantities, and the model's words for their refusals. */
  readonly quantities?: Readonly<Record<string, QuantitySpec>>;
  /** The actions, each typed by its input schema: `actions: (action) => ({ reserve: action({...}) })`. */
  readonly actions: (action: ActionBuilder<S>) => Readonly<Record<string, Action<S>>>;
}): ResourceModel<S> {
  const { kind, state } = definition;
  const actions = definition.actions(action);
  if (!KIND.test(kind) || kind === "barrier" || kind === "step") {
    throw new ModelDefinitionError(`resource kind "${kind}" must match ${KIND} and not be barrier or step`);
  }
  const stateKeys = Object.keys(state.shape);
  for (const key of stateKeys) {
    if (RESERVED_ATTRIBUTES.has(key)) {
      throw new ModelDefinitionError(`${kind}: state attribute "${key}" is one the store writes itself`);
    }
  }
  const quantities = definition.quantities ?? {};
  for (const field of Object.keys(quantities)) {
    if (!stateKeys.includes(field)) {
      throw new ModelDefinitionError(`${kind}: quantity "${field}" is not a state attribute`);
    }
    for (const derived of holdAttributes(field)) {
      if (stateKeys.includes(derived)) {
        throw new ModelDefinitionError(
          `${kind}: state attribute "${derived}" is one the store keeps for ${field}`,
        );
      }
    }
  }
  if (Object.keys(actions).length === 0) throw new ModelDefinitionError(`${kind} has no actions`);
  return { kind, state, stateKeys, quantities, actions };
}

/** The action named `name`, if the model has one (own properties only: no `toString`). */
export const actionOf = <S extends ResourceState>(
  model: ResourceModel<S>,
  name: string,
): Action<S> | undefined => (Object.hasOwn(model.actions, name) ? model.actions[name] : undefined);

/** The input schemas of a model's actions, for validation at the API. */
export const actionSchemas = <S extends ResourceState>(model: ResourceModel<S>): Record<string, z.ZodType> =>
  Object.fromEntries(Object.entries(model.actions).map(([name, action]) => [name, action.input]));
