/**
 * Registered HTTP participants: a service known by name, called at its base
 * URL, for the protocols it speaks. A registration is immutable once made —
 * the same body again is answered with the existing record, a different one is
 * a conflict — so a transaction in flight never sees its participant move, and
 * every process may keep what it read. To move a service, register a new name.
 */
import * as z from "zod";
import { COMMERCE_PARTICIPANTS } from "../participants/commerce/names.ts";

export const HTTP_PROTOCOLS = ["2pc", "saga"] as const;
export type HttpProtocol = (typeof HTTP_PROTOCOLS)[number];

export interface HttpParticipant {
  readonly name: string;
  readonly baseUrl: string;
  /** Sorted, without duplicates. */
  readonly protocols: readonly HttpProtocol[];
  readonly createdAt: number;
  /** 1 for every registration: records are never rewritten; kept so a later update can be conditional. */
  readonly version: number;
}

export interface Registration {
  readonly name: string;
  readonly baseUrl: string;
  readonly protocols: readonly HttpProtocol[];
}

export interface RegistryPage {
  readonly items: readonly HttpParticipant[];
  readonly nextCursor?: string;
}

/** The registry's storage (DynamoDB, or a map in tests). */
export interface ParticipantRegistry {
  /** Creates the record if the name is free; else throws NameTakenError with the record that holds it. */
  create(participant: HttpParticipant): Promise<void>;
  get(name: string): Promise<HttpParticipant | undefined>;
  /** Names in, the registered ones out; at most 100 names. */
  getMany(names: readonly string[]): Promise<ReadonlyMap<string, HttpParticipant>>;
  /** A page in storage order; throws InvalidCursorError for a cursor it did not make. */
  list(options: { readonly limit: number; readonly cursor?: string }): Promise<RegistryPage>;
}

/** The name is registered already; the record is carried so the caller can compare. */
export class NameTakenError extends Error {
  override name = "NameTakenError";
  constructor(
    readonly existing: HttpParticipant,
    options?: ErrorOptions,
  ) {
    super(`participant ${existing.name} is registered already`, options);
  }
}

/** Like the built-in participants' names: short, lower case, safe in logs and keys. */
export const PARTICIPANT_NAME = /^[a-z][a-z0-9-]{0,39}$/;

export const registrationBody = z.strictObject({
  name: z.string().regex(PARTICIPANT_NAME, "a name is 1-40 characters of a-z 0-9 -, starting with a letter"),
  baseUrl: z.string().min(1).max(512),
  protocols: z
    .array(z.enum(HTTP_PROTOCOLS, { error: 'protocols are "2pc" and "saga"' }))
    .min(1)
    // A repeat is harmless (the set is what counts); a long list is not a registration.
    .max(4)
    .transform((ps) => [...new Set(ps)].sort() as HttpProtocol[]),
});

/** Concord's own names and roles: a registration may not take them. */
const ROLE_NAMES = new Set(["api", "coordinator", "dispatcher", "sweeper", "participants", "transactions"]);

/** Why a name cannot be registered here, or undefined: the built-in participants keep theirs. */
export function reservedName(name: string, builtIn: readonly string[]): string | undefined {
  if (builtIn.includes(name) || (COMMERCE_PARTICIPANTS as readonly string[]).includes(name)) {
    return `"${name}" is a built-in participant`;
  }
  // Any bank-N may become a bank server by configuration (CONCORD_BANK_SERVER_COUNT).
  if (/^bank-\d+$/.test(name)) return `"${name}" is reserved for bank servers`;
  if (ROLE_NAMES.has(name)) return `"${name}" is reserved for concord's own roles`;
  return undefined;
}

/** The same registration as the record holds: a repeated request, answered with the record. */
export const sameRegistration = (a: Registration, b: Registration): boolean =>
  a.name === b.name &&
  a.baseUrl === b.baseUrl &&
  a.protocols.length === b.protocols.length &&
  a.protocols.every((p, i) => b.protocols[i] === p);

/** Which protocols a branch needs its participant to speak. */
export function protocolsNeeded(protocol: "2pc" | "saga", atomic: boolean): readonly HttpProtocol[] {
  if (protocol === "2pc") return ["2pc"];
  // An atomic stage prepares and commits (2PC) and is undone by a compensation (saga).
  return atomic ? ["2pc", "saga"] : ["saga"];
}

/**
 * The registry, remembering every registration it has read: a registration
 * never changes, so a process asks DynamoDB for each name once (the API per
 * request naming it, the dispatcher per message). Names not found are asked
 * again: they may be registered later.
 */
export function rememberingRegistry<R extends Pick<ParticipantRegistry, "get" | "getMany">>(registry: R): R {
  const known = new Map<string, HttpParticipant>();
  const remember = (p: HttpParticipant) => {
    known.set(p.name, p);
    return p;
  };
  return {
    ...registry,
    async get(name: string) {
      const found = known.get(name) ?? (await registry.get(name));
      return found && remember(found);
    },
    async getMany(names: readonly string[]) {
      const missing = names.filter((n) => !known.has(n));
      if (missing.length > 0) for (const p of (await registry.getMany(missing)).values()) remember(p);
      return new Map(names.flatMap((n) => (known.has(n) ? [[n, known.get(n) as HttpParticipant]] : [])));
    },
  };
}
