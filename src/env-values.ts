/**
 * Parsers for environment values, used by the schema in env-schema.ts. Each takes
 * the raw value (a string, or undefined when unset) and treats "" as unset, as a
 * shell's `VAR=` means. Messages start after the variable's name, which
 * `loadConfig` puts in front.
 */
import { isIP } from "node:net";
import { z } from "zod";
import { COMMERCE_PARTICIPANTS, isCommerceParticipant } from "./participants/commerce/names.ts";

const raw = z.string().optional();
const unset = (value: string | undefined): value is undefined | "" => value === undefined || value === "";

/** Adds an issue with this message and gives up on the value. */
function refuse(ctx: z.RefinementCtx, message: string): never {
  ctx.addIssue({ code: "custom", message });
  return z.NEVER;
}

export type IntBounds = { readonly min: number; readonly max?: number; readonly why?: string };

function intIn(value: string, { min, max, why }: IntBounds, ctx: z.RefinementCtx): number {
  const n = Number(value);
  if (!/^\s*-?\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < min)
    return refuse(ctx, `must be an integer >= ${min}, got "${value}"`);
  if (max !== undefined && n > max)
    return refuse(ctx, `must be at most ${max}${why ? ` (${why})` : ""}, got ${n}`);
  return n;
}

/** An integer with a default. */
export const int = (fallback: number, bounds: IntBounds) =>
  raw.transform((v, ctx) => (unset(v) ? fallback : intIn(v, bounds, ctx)));

/** An integer, or undefined when unset (its default depends on another variable). */
export const optionalInt = (bounds: IntBounds) =>
  raw.transform((v, ctx) => (unset(v) ? undefined : intIn(v, bounds, ctx)));

/** A number from 0 to 1; unset is 0. */
export const rate = () =>
  raw.transform((v, ctx) => {
    if (unset(v)) return 0;
    const n = Number(v);
    if (!/^\d*\.?\d+$/.test(v.trim()) || n < 0 || n > 1)
      return refuse(ctx, `must be a number from 0 to 1, got "${v}"`);
    return n;
  });

/** true/1 or false/0 (any case); unset is `unset`. */
export const bool = (unset = false) =>
  raw.transform((v, ctx) => {
    const b = v?.trim().toLowerCase();
    if (b === undefined || b === "") return unset;
    if (b === "false" || b === "0") return false;
    if (b === "true" || b === "1") return true;
    return refuse(ctx, `must be true or false, got "${v}"`);
  });

/** Comma-separated, blanks dropped. */
export const list = (value: string | undefined): string[] =>
  (value ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);

export const stringList = () => raw.transform(list);

/** A string, or undefined when unset or empty. */
export const text = () => raw.transform((v) => (unset(v) ? undefined : v));

/** JSON text, kept as text for whoever reads it (its shape is theirs to check), or undefined when unset. */
export const jsonText = () =>
  raw.transform((v, ctx) => {
    const value = v?.trim();
    if (unset(value)) return undefined;
    try {
      JSON.parse(value);
    } catch {
      return refuse(ctx, `is not JSON: ${value}`);
    }
    return value;
  });

/** A secret string of at least `min` characters, or undefined when unset or empty. */
export const secret = (min: number) =>
  raw.transform((v, ctx) => {
    const value = v?.trim();
    if (unset(value)) return undefined;
    if (value.length >= min) return value;
    return refuse(ctx, `must be at least ${min} characters (a random string)`);
  });

/** One of a fixed set of words. */
export const oneOf = <const T extends string>(values: readonly T[], fallback: T) =>
  raw.transform((v, ctx): T => {
    if (unset(v)) return fallback;
    if ((values as readonly string[]).includes(v)) return v as T;
    return refuse(ctx, `must be ${values.join(", ")}, got "${v}"`);
  });

/** A name for tables, queues and functions. */
export const prefix = (fallback: string) =>
  raw.transform((v, ctx) => {
    const value = v ?? fallback;
    if (/^[A-Za-z0-9_-]{1,40}$/.test(value)) return value;
    return refuse(ctx, `"${value}" is not a valid name (1-40 letters, digits, _ and -)`);
  });

const PARTICIPANT_NAME = /^[a-z][a-z0-9-]{0,39}$/;

/** Participant names, comma-separated; undefined when unset. */
export const participantNames = () =>
  raw.transform((v, ctx) => {
    if (unset(v)) return undefined;
    const names = list(v);
    const bad = names.find((s) => !PARTICIPANT_NAME.test(s));
    if (bad !== undefined)
      return refuse(ctx, `names "${bad}"; a participant's name must match ${PARTICIPANT_NAME}`);
    return names;
  });

/** Unset: all of them; `none`: none; else a comma-separated list. */
export const commerceParticipants = () =>
  raw.transform((v, ctx) => {
    const value = v?.trim();
    if (unset(value)) return [...COMMERCE_PARTICIPANTS];
    if (value === "none") return [];
    const names = list(value);
    const bad = names.find((name) => !isCommerceParticipant(name));
    if (bad !== undefined)
      return refuse(ctx, `names "${bad}"; they are ${COMMERCE_PARTICIPANTS.join(", ")} (or none)`);
    return [...new Set(names.filter(isCommerceParticipant))];
  });

const HOST_PATTERN = /^(\*\.)?[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$|^\[[0-9a-f:.]+\]$/;

/** Host names or IP addresses, lower case. */
export const hosts = () =>
  raw.transform((v, ctx) => {
    const names = list(v).map((h) => h.toLowerCase());
    const bad = names.find((host) => !HOST_PATTERN.test(host) && isIP(host) === 0);
    if (bad !== undefined) {
      return refuse(
        ctx,
        `names "${bad}"; give host names (api.example.com, *.example.com) or IP addresses, no scheme or port`,
      );
    }
    return names;
  });

const LOG_LEVELS = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "SILENT", "CRITICAL"];

/** A Powertools log level, any case; undefined when unset. */
export const logLevel = () =>
  raw.transform((v, ctx) => {
    if (unset(v)) return undefined;
    const level = v.toUpperCase();
    if (LOG_LEVELS.includes(level)) return level;
    return refuse(ctx, `must be one of ${LOG_LEVELS.join(", ")}, got "${v}"`);
  });

/** A value read by a parser that throws `errorClass` with its own message (crash points, fault plans). */
export const parsedBy = <T, E extends Error>(
  parse: (v: string | undefined) => T,
  errorClass: new (...args: never[]) => E,
) =>
  raw.transform((v, ctx): T => {
    try {
      return parse(v);
    } catch (err) {
      if (!(err instanceof errorClass)) throw err;
      return refuse(ctx, err.message);
    }
  });
