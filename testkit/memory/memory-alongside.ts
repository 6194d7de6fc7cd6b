/**
 * A participant's part of the record's write (ports/alongside.ts: its commit,
 * or its prepare), in memory: its condition, checked before anything is
 * written, and its effect, applied with the record's.
 */
import type { Alongside } from "../../src/ports/alongside.ts";

export interface MemoryAlongside extends Alongside {
  readonly backend: "memory";
  /** Throws (BarrierConflictError) when the part's condition fails; writes nothing. */
  check(): void;
  apply(): void;
}

export const memoryAlongside = (check: () => void, apply: () => void): MemoryAlongside => ({
  backend: "memory",
  check,
  apply,
});

/** `alongside` as this backend's, or an error: a part from another backend is a wiring mistake. */
export function asMemory(alongside: Alongside): MemoryAlongside {
  if (alongside.backend !== "memory") {
    throw new Error(`a ${alongside.backend} store's part cannot be written with an in-memory record`);
  }
  return alongside as MemoryAlongside;
}
