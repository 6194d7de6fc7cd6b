import type { Barrier } from "./barriers.ts";
import type { ResourceState } from "./resource-model.ts";

/**
 * The barriers this process prepared, so that the decision which follows can
 * be written without reading its barrier first. Only ever the input of that
 * conditional write: the store requires the barrier still `prepared` for the
 * same incarnation and attempt, and a refused write drops the copy and reads.
 * A copy never answers anything by itself.
 */
export interface PreparedBarriers<S extends ResourceState> {
  get(txId: string): Barrier<S> | undefined;
  remember(barrier: Barrier<S>): void;
  forget(txId: string): void;
}

/**
 * Bounded: the oldest remembered go first. A decision comes within seconds of
 * its PREPARE, and a barrier this process settles is forgotten, so a few
 * thousand entries cover every transaction in flight in one process; one
 * evicted costs a read. A barrier settled by another process (on Lambda, a
 * decision that reached another container of the participant's function) stays
 * until it is evicted: its copy would only fail its condition and be read.
 */
export function createPreparedBarriers<S extends ResourceState>(capacity = 4_096): PreparedBarriers<S> {
  const entries = new Map<string, Barrier<S>>();
  return {
    get: (txId) => entries.get(txId),
    remember(barrier) {
      entries.delete(barrier.txId);
      entries.set(barrier.txId, barrier);
      if (entries.size > capacity) {
        const oldest = entries.keys().next().value;
        if (oldest !== undefined) entries.delete(oldest);
      }
    },
    forget: (txId) => void entries.delete(txId),
  };
}
