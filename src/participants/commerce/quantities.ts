/** Input shapes the e-commerce models share. */
import * as z from "zod";

/** A positive integer: a count, or an amount in minor units. */
export const positive = (what: string) =>
  z
    .number()
    .int(`${what} must be an integer`)
    .positive(`${what} must be positive`)
    .max(Number.MAX_SAFE_INTEGER, `${what} must be a safe integer`);

/** A stored count that never goes below zero. */
export const nonNegative = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
