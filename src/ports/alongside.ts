/**
 * A participant's write made in the same atomic write as the record's: the
 * last voter's commit with the decision it makes, or a vote with the prepare
 * it stands on. When the last yes vote is applied in the voter's own invocation
 * (direct answers with self-delivery), the record's decision, that voter's
 * ack and its commit are one write: no COMMIT to itself, no ack write after it.
 * The participant offers its commit while its vote is applied; the coordinator
 * takes it only when that write decides to commit (src/core/own-commit.ts).
 * A vote and its prepare: see `OwnPrepare` (src/core/own-vote.ts).
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
  /** The incarnation its barrier was prepared for (the record's createdAt). */
  readonly startedAt: number;
  /** Its commit, as a part of the decision's write: the store's `commit`, with the same conditions. */
  alongside(now: number): Alongside;
  /** Called once that write is durable: the commit is done here, and no COMMIT will come for it. */
  committed(): void;
}

/**
 * What a participant offers with a yes vote it has not written yet (a blind
 * prepare: every branch declares its moves): its prepare, as a part of the
 * write that records the vote. The vote stands only with that part: the
 * coordinator writes both, or neither and leaves the participant to prepare
 * and vote on its own. Where the vote decides to commit, the participant's
 * branches are applied at once instead (`commit`), as the last voter's commit
 * is written with the decision.
 */
export interface OwnPrepare {
  readonly participant: string;
  /** The attempt the vote is for. */
  readonly attempt: number;
  /** The incarnation the PREPARE was for (the record's createdAt). */
  readonly startedAt: number;
  /** Its barrier prepared and its holds taken: the store's `prepare`, with the same conditions. */
  prepare(now: number): Alongside;
  /** Its barrier committed and its branches applied at once: absent where its barrier would hold a lock. */
  readonly commit?: (now: number) => Alongside;
  /** Called once that write is durable, with what it wrote at the participant. */
  written(part: "prepared" | "committed", now: number): void;
}

/** The part's condition failed (the barrier is not as offered, or a move no longer fits): nothing was written. */
export class AlongsideRefusedError extends Error {
  override name = "AlongsideRefusedError";
  constructor(
    readonly id: string,
    options?: ErrorOptions,
  ) {
    super(`the participant's part of the write for ${id} was refused`, options);
  }
}
