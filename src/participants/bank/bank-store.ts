/** The bank's persistence: the participant kit's store over account resources. */
import type { ParticipantStore } from "../../participant-kit/participant-store.ts";
import type { AccountState } from "./bank-rules.ts";

export type BankStore = ParticipantStore<AccountState>;
