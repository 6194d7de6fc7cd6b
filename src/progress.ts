/**
 * Progress of a long run (simulation, chaos run, benchmark): one line redrawn in
 * place on stderr when it is a terminal; otherwise (CI, a pipe, a log file) a
 * plain line now and then, so a log shows the run advancing without a line per tick.
 */

/** Where progress goes: a stream, or anything that writes text like one. */
export interface ProgressSink {
  readonly isTTY?: boolean;
  write(text: string): unknown;
}

export interface ProgressOptions {
  /** Where the live line is drawn (default stderr); drawn only if it is a TTY. */
  readonly live?: ProgressSink;
  /** Where plain lines go when `live` is not a TTY (default `live`). */
  readonly plain?: ProgressSink;
  /** Least time between two plain lines (default 5 s). */
  readonly plainEveryMs?: number;
  /** Least time between two redraws of the live line (default 100 ms): callers may update on every step. */
  readonly liveEveryMs?: number;
  readonly now?: () => number;
}

export interface Progress {
  /** True when the line is redrawn in place: the caller may refresh it often. */
  readonly live: boolean;
  /** Shows this line: redrawn on a TTY; else printed if `plainEveryMs` has passed since the last one. */
  update(line: string): void;
  /** Ends the live line, so that other output starts on a line of its own. */
  end(): void;
  /** The last word: printed in any case (ending the live line). */
  done(line: string): void;
}

export function createProgress(options: ProgressOptions = {}): Progress {
  const live = options.live ?? process.stderr;
  const plain = options.plain ?? live;
  const every = options.plainEveryMs ?? 5_000;
  const liveEvery = options.liveEveryMs ?? 100;
  const now = options.now ?? Date.now;
  const tty = live.isTTY === true;
  let last = now();
  let lastDrawn = Number.NEGATIVE_INFINITY;
  let drawn = false;
  const end = () => {
    if (drawn) live.write("\n");
    drawn = false;
  };
  return {
    live: tty,
    update(line) {
      if (tty) {
        if (now() - lastDrawn < liveEvery) return;
        lastDrawn = now();
        live.write(`\r${line}\x1b[K`);
        drawn = true;
      } else if (now() - last >= every) {
        last = now();
        plain.write(`${line}\n`);
      }
    },
    end,
    done(line) {
      if (tty) {
        live.write(`\r${line}\x1b[K\n`);
        drawn = false;
      } else plain.write(`${line}\n`);
    },
  };
}
