/**
 * A participant's commit written in the same atomic write as the decision it
 * makes. When the last yes vote is applied in the voter's own invocation
 * (direct answers with self-delivery), the record's decision, that voter's
 * ack and its commit are one write: no COMMIT to itself, no ack write after it.
 * The participant offers its commit while its vote is applied; the coordinator
 * takes it only when that write decides to commit (src/core/own-commit.ts).
 */

/**
 * Another store's part of a record's write, built by a participant store of the
 * same backend; opaque to everything between (the DynamoDB adapters carry
 * transaction items in it, the in-memory stores a check and an apply).
 */
export interface Alongside {
  readonly backend: string;
}

/** What a participant offers for the write that applies its vote. */
export interface OwnCommit {
  readonly participant: string;
  /** The attempt its barrier was prepared for. */
  readonly attempt: number;
  /** Its commit, as a part of the decision's write: the store's `commit`, with the same conditions. */
  alongside(now: number): Alongside;
  /** Called once that write is durable: the commit is done here, and no COMMIT will come for it. */
  committed(): void;
}

/** The part's condition failed (the barrier is no longer prepared as offered): nothing was written. */
export class AlongsideRefusedError extends Error {
  override name = "AlongsideRefusedError";
  constructor(
    readonly id: string,
    options?: ErrorOptions,
  ) {
    super(`the participant's part of the write for ${id} was refused`, options);
  }
}
