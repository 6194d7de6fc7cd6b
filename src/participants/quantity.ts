/**
 * The shape the bank, inventory and payment models share: a count per resource
 * (a balance, a stock) that a debit takes from, never below zero, and a credit
 * gives back to, never past a safe integer. `moveQuantities` is the rule;
 * `quantityModel` makes a debit/credit pair of it, each the other's compensation,
 * and declares the count a quantity: the kit then reserves against it (the
 * escrow method) instead of locking the resource, so debits and credits of
 * concurrent transactions never wait for each other. The rule judges a debit
 * against what the kit shows it: the count less what is reserved.
 */
import * as z from "zod";
import {
  accept,
  defineModel,
  type ResourceModel,
  type ResourceView,
  refuse,
  resourceId,
} from "../participant-kit/resource-model.ts";

/** A positive integer: a count, or an amount in minor units. */
export const positive = (what: string) =>
  z
    .number()
    .int(`${what} must be an integer`)
    .positive(`${what} must be positive`)
    .max(Number.MAX_SAFE_INTEGER, `${what} must be a safe integer`);

/** A stored count that never goes below zero. */
export const nonNegative = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

/** The reasons a movement refuses with, in the model's own words. */
export interface QuantityReasons {
  readonly unknown: string;
  readonly insufficient: string;
  readonly overflow: string;
}

export interface Movement {
  readonly id: string;
  /** Negative: a debit; positive: a credit. */
  readonly delta: number;
}

type Counted<F extends string> = { readonly [K in F]: number };

/**
 * Moves `field` on the resources named, in order. `expected` pins the first
 * resource at its version as read (`version_conflict` otherwise).
 */
export function moveQuantities<F extends string>(
  field: F,
  reasons: QuantityReasons,
  movements: readonly Movement[],
  resources: ResourceView<Counted<F>>,
  expected?: number,
) {
  const set: { id: string; state: Counted<F> }[] = [];
  for (const [i, { id, delta }] of movements.entries()) {
    const { state, version } = resources.get(id);
    if (state === undefined) return refuse<Counted<F>>(reasons.unknown);
    if (i === 0 && expected !== undefined && version !== expected)
      return refuse<Counted<F>>("version_conflict");
    const next = state[field] + delta;
    if (next < 0) return refuse<Counted<F>>(reasons.insufficient);
    if (next > Number.MAX_SAFE_INTEGER) return refuse<Counted<F>>(reasons.overflow);
    set.push({ id, state: { [field]: next } as Counted<F> });
  }
  return accept(...set);
}

/** A model of one count per resource, with one action that debits it and one that credits it. */
export function quantityModel<F extends string>(spec: {
  /** The resource kind, and the input field naming one (`sku`, `customer`). */
  readonly kind: string;
  /** The stored count (`stock`, `balance`). */
  readonly field: F;
  /** The input field of how much (`quantity`, `amount`). */
  readonly amount: string;
  readonly debit: string;
  readonly credit: string;
  readonly reasons: QuantityReasons;
}): ResourceModel<Counted<F>> {
  const { kind, field, amount, reasons } = spec;
  // zod cannot infer an object's output through a generic key: it is `{ [field]: number }`.
  const state = z.object({ [field]: nonNegative }) as z.ZodObject & z.ZodType<Counted<F>>;
  const input = z.strictObject({ [kind]: resourceId(kind), [amount]: positive(amount) }) as z.ZodType<
    Record<string, string | number>
  >;
  const idOf = (i: Record<string, string | number>) => String(i[kind]);
  const movement = (sign: 1 | -1) => (i: Record<string, string | number>) => [
    { id: idOf(i), delta: sign * Number(i[amount]) },
  ];
  // moveQuantities accepts exactly when the resource exists and the move fits: declared, a PREPARE needs no read.
  const declared = (sign: 1 | -1) => (i: Record<string, string | number>) => ({
    [idOf(i)]: { [field]: sign * Number(i[amount]) },
  });
  return defineModel<Counted<F>>({
    kind,
    state,
    // The count only ever moves by these actions: prepares reserve against it instead of locking.
    quantities: { [field]: { insufficient: reasons.insufficient, overflow: reasons.overflow } },
    actions: (action) => ({
      [spec.debit]: action({
        input,
        touches: (i) => [idOf(i)],
        moves: declared(-1),
        apply: (i, resources) => moveQuantities(field, reasons, movement(-1)(i), resources),
      }),
      [spec.credit]: action({
        input,
        touches: (i) => [idOf(i)],
        moves: declared(1),
        apply: (i, resources) => moveQuantities(field, reasons, movement(1)(i), resources),
      }),
    }),
  });
}
