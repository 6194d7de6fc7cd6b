/**
 * A bank participant driven message by message in a test: its store on the
 * stack's bank table, and a participant over it whose sends are recorded.
 */
import { physicalName } from "../../infra/topology.ts";
import { createDynamoDbParticipantStore } from "../../src/adapters/dynamodb-participant-store.ts";
import { createParticipant } from "../../src/participant-kit/participant.ts";
import { bankModel } from "../../src/participants/bank/bank-rules.ts";
import type { BankStore } from "../../src/participants/bank/bank-store.ts";
import { silentLogger } from "../../testkit/logging.ts";
import { recording } from "./buses.ts";
import type { Stack } from "./stack.ts";

/** The bank participants' store on the stack's bank table. */
export function bankStoreOf(stack: Stack): BankStore {
  const { topology } = stack.config;
  return createDynamoDbParticipantStore({
    model: bankModel,
    doc: stack.runtime.clients.doc,
    tableName: physicalName(topology, topology.tables.bank.name),
    retentionSeconds: 3600,
  });
}

/** bank-1 over `store` (no-wait: a lock refuses at once), with every message it sends recorded. */
export function bankParticipant(store: BankStore) {
  const bus = recording();
  const p = createParticipant({
    name: "bank-1",
    model: bankModel,
    store,
    bus,
    clock: Date.now,
    log: silentLogger(),
    lockPolicy: "no-wait",
  });
  return { bus, handle: p.handle };
}
