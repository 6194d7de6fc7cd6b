/**
 * A bank server as a participant-kit participant: its accounts are the
 * resources, deposit/withdraw/transfer the actions (bank-rules.ts). Everything
 * that makes it safe (barriers, locks, lock policies, in-doubt inquiry, saga
 * step barriers) is the kit's.
 */
import {
  createParticipant,
  type Participant,
  type ParticipantDeps,
} from "../../participant-kit/participant.ts";
import { type AccountState, bankModel } from "./bank-rules.ts";

export interface BankParticipantDeps extends Omit<ParticipantDeps<AccountState>, "name" | "model"> {
  /** The bank server's name (`bank-1`): its queue and its keys. */
  readonly server: string;
}

export function createBankParticipant(deps: BankParticipantDeps): Participant {
  const { server, ...rest } = deps;
  return createParticipant({ ...rest, name: server, model: bankModel });
}
