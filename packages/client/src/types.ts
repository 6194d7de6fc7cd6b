/**
 * The shapes of concord's v1 HTTP API as the client sends and receives them.
 * They are checked against the server's own schemas and views at compile time
 * (test/server-types.test.ts), so a field that changes on one side fails the
 * build instead of a caller.
 */

export type Protocol = "2pc" | "saga";

/** The client-facing outcome: `committed` once the commit decision is durable. */
export type Status = "pending" | "committed" | "aborted";

/** Where the coordinator is: 2PC and saga phases. */
export type Phase =
  | "preparing"
  | "committing"
  | "aborting"
  | "committed"
  | "aborted"
  | "running"
  | "compensating"
  | "compensated";

/** Phases after which nothing changes any more: every participant has applied the outcome. */
export const FINAL_PHASES: readonly Phase[] = ["committed", "aborted", "compensated"];

export interface BranchRequest {
  participant: string;
  action: string;
  input: unknown;
  /** Saga only: what undoes the action. */
  compensation?: { action: string; input: unknown } | undefined;
  /** Saga only: branches sharing a stage run in parallel, stages in ascending order. */
  stage?: number | undefined;
}

export interface BeginRequest {
  /** The transaction's id; repeating it returns the existing transaction. */
  id?: string | undefined;
  protocol: Protocol;
  timeoutMs?: number | undefined;
  branches: BranchRequest[];
  /** Saga only: stage numbers whose branches run as one 2PC group. */
  atomicStages?: number[] | undefined;
}

/** One operation of the bank shape (`POST /v1/transfers`); amounts in minor units. */
export interface TransferOperation {
  server_id: string;
  account_id: string;
  operation: "deposit" | "withdraw" | "transfer";
  amount: number;
  /** `transfer` only: the account on the same server that receives the amount. */
  to_account_id?: string | undefined;
}

export type BranchState =
  | "pending"
  | "prepared"
  | "refused"
  | "committing"
  | "committed"
  | "aborting"
  | "rolled_back"
  | "running"
  | "done"
  | "failed"
  | "compensating"
  | "compensated";

export interface BranchView {
  readonly participant: string;
  readonly action: string;
  readonly state: BranchState;
  readonly vote?: "yes" | "no";
  readonly reason?: string;
  readonly stage?: number;
  readonly atomic?: true;
  readonly attempts?: number;
}

/** One entry of a transaction's timeline. `type` and `reason` are open sets: new ones appear. */
export interface EventView {
  readonly at: string;
  readonly type: string;
  readonly participants?: readonly string[];
  readonly participantsOmitted?: number;
  readonly participant?: string;
  readonly vote?: "yes" | "no";
  readonly holder?: string;
  readonly decision?: "commit" | "abort";
  readonly reason?: string;
  readonly attempt?: number;
  readonly stage?: number;
  readonly branch?: number;
  readonly branches?: readonly number[];
  readonly step?: "action" | "compensation";
  readonly outcome?: "done" | "failed" | "retry";
}

export interface TransactionView {
  readonly id: string;
  readonly protocol: string;
  readonly status: Status;
  readonly phase: Phase;
  readonly reason?: string;
  readonly createdAt: string;
  readonly deadline: string;
  readonly decidedAt?: string;
  readonly completedAt?: string;
  readonly attempts: number;
  readonly branches: readonly BranchView[];
  readonly events: readonly EventView[];
  readonly eventsDropped?: number;
}

export interface TransactionPage {
  readonly transactions: readonly TransactionView[];
  /** Present when there may be more: pass it as `cursor` for the next page. */
  readonly nextCursor?: string;
}

/**
 * Filters of `GET /v1/transactions`. Each is passed as given; a server that
 * does not serve one answers `invalid_request`, which the client raises.
 */
export interface ListQuery {
  readonly status?: Status;
  readonly protocol?: Protocol;
  readonly participant?: string;
  /** ISO 8601 time or epoch milliseconds, as the server accepts it. */
  readonly since?: string;
  readonly until?: string;
  /** Page size, 1-100. */
  readonly limit?: number;
  readonly cursor?: string;
}

export type HttpProtocol = "2pc" | "saga";

export interface ParticipantRegistration {
  name: string;
  /** Where the service serves `/prepare`, `/commit`, ... (docs/participants.md). */
  baseUrl: string;
  protocols: HttpProtocol[];
}

export interface ParticipantView {
  readonly name: string;
  readonly baseUrl: string;
  readonly protocols: readonly HttpProtocol[];
  readonly createdAt: string;
  readonly version: number;
}

/** `GET /v1/participants`: page size 1-100, and the cursor of the page to read. */
export interface ParticipantQuery {
  readonly limit?: number;
  readonly cursor?: string;
}

export interface ParticipantPage {
  readonly participants: readonly ParticipantView[];
  readonly nextCursor?: string;
}

export interface AccountView {
  readonly server: string;
  readonly account: string;
  readonly balance: number;
  /** Debits of prepared transactions that may still take it. */
  readonly reserved: number;
  /** Credits of prepared transactions not yet applied. */
  readonly pending: number;
  readonly version: number;
  readonly lockedBy?: string;
}
