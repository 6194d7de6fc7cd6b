/**
 * What the API knows about each participant: the actions it accepts and the
 * shape of their inputs, so bad input is refused before any state changes.
 */
import type { z } from "zod";
import { accountsTouched, bankActions, MAX_ACCOUNTS_PER_PREPARE } from "./bank/bank-rules.ts";

export interface ParticipantKind {
  readonly kind: string;
  readonly actions: Readonly<Record<string, z.ZodType>>;
  /** Limits on all of one transaction's branches at this participant; a message when exceeded. */
  readonly checkGroup?: (branches: readonly { action: string; input: unknown }[]) => string | undefined;
}

export type Catalog = ReadonlyMap<string, ParticipantKind>;

const bank: ParticipantKind = {
  kind: "bank",
  actions: bankActions,
  checkGroup(branches) {
    const n = accountsTouched(branches.map((b, index) => ({ index, ...b }))).length;
    return n > MAX_ACCOUNTS_PER_PREPARE
      ? `touches ${n} accounts on one server; at most ${MAX_ACCOUNTS_PER_PREPARE} fit in one atomic prepare`
      : undefined;
  },
};

export function bankCatalog(servers: readonly string[]): Catalog {
  return new Map(servers.map((s) => [s, bank]));
}
