/** What can go wrong in a participant, by what the caller should do about it. */

/**
 * An atomic write of a barrier and its resources did not happen because a
 * precondition failed: another delivery (or transaction) got there first.
 * Nothing was written; re-read and decide again.
 */
export class BarrierConflictError extends Error {
  override name = "BarrierConflictError";
  constructor(
    readonly txId: string,
    /** The barrier was written or changed by someone else (else a resource changed): re-read it. */
    readonly barrierChanged: boolean,
    options?: ErrorOptions,
  ) {
    super(`barrier or resources of ${txId} changed since they were read`, options);
  }
}

/** A resource an operator wanted to reset is held by a transaction. */
export class ResourceLockedError extends Error {
  override name = "ResourceLockedError";
  constructor(
    readonly id: string,
    readonly lockedBy: string,
    options?: ErrorOptions,
  ) {
    super(`${id} is locked by transaction ${lockedBy}`, options);
  }
}

/** A message that contradicts the barrier: a bug or a corrupted queue, never retried into success. */
export class ProtocolViolationError extends Error {
  override name = "ProtocolViolationError";
}

/**
 * Not now: a transient failure (an unreachable or failing external service)
 * before anything was written. A saga step answers `retry` with the reason; a
 * PREPARE fails and comes back from its queue.
 */
export class RetryLaterError extends Error {
  override name = "RetryLaterError";
  constructor(
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(`try again later: ${reason}`, options);
  }
}

/** A model broke its own contract (touched a resource it did not declare, produced an invalid state). */
export class ModelContractError extends Error {
  override name = "ModelContractError";
}

/** A resource an operator wanted to reset holds reservations or pending credits of prepared transactions. */
export class ResourceReservedError extends Error {
  override name = "ResourceReservedError";
  constructor(
    readonly id: string,
    options?: ErrorOptions,
  ) {
    super(`${id} holds reservations of prepared transactions`, options);
  }
}
