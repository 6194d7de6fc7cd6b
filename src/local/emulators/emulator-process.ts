import { type ChildProcess, spawn } from "node:child_process";
import type { Readable } from "node:stream";

/** A running emulator: where to reach it and how to stop it. */
export interface EmulatorProcess {
  /** Base URL, always on the loopback interface, e.g. `http://127.0.0.1:8000`. */
  readonly endpoint: string;
  readonly port: number;
  /** Pid of the group leader; the emulator runs in its own process group. */
  readonly pid: number;
  /** Kills the whole process group (SIGTERM, then SIGKILL after a grace period) and waits for exit. */
  stop(): Promise<void>;
}

export interface EmulatorSpawnSpec {
  /** Used in messages: "DynamoDB Local", "SQS emulator". */
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  /** How long to wait for the "LISTENING <port>" line. */
  readonly startTimeoutMs?: number;
  /** Time between SIGTERM and SIGKILL on stop. */
  readonly stopGraceMs?: number;
}

export class EmulatorStartError extends Error {
  override name = "EmulatorStartError";
}

const DEFAULT_START_TIMEOUT_MS = 60_000;
const DEFAULT_STOP_GRACE_MS = 5_000;
const OUTPUT_TAIL_CHARS = 4_000;
const LISTENING = /^LISTENING (\d+)\s*$/m;

/**
 * Process groups still running. The synchronous exit hook below kills them, so
 * an emulator never outlives the process that started it, whatever the exit path.
 */
const liveGroups = new Set<number>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // "exit" handlers must be synchronous; a SIGKILL to the group is the only safe thing left to do.
  process.on("exit", stopAllEmulatorsSync);
}

/**
 * Sends SIGKILL to every emulator process group this process started and has not stopped.
 * For signal handlers (the CLI's SIGINT/SIGTERM) and the process "exit" hook; it never waits.
 */
export function stopAllEmulatorsSync(): void {
  // Best effort: this may run inside the "exit" hook, where throwing helps nobody.
  for (const pid of liveGroups) killGroupQuietly(pid);
  liveGroups.clear();
}

/** Signals a whole process group; a group that is already gone is not an error. */
function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ESRCH") throw err;
  }
}

function killGroupQuietly(pid: number): void {
  try {
    killGroup(pid, "SIGKILL");
  } catch {
    // Nothing left to do about a group we may not signal.
  }
}

/** Keeps the last characters of a stream, for error messages. */
function tailOf(stream: Readable | null, into: { text: string }): void {
  stream?.setEncoding("utf8");
  stream?.on("data", (chunk: string) => {
    into.text = (into.text + chunk).slice(-OUTPUT_TAIL_CHARS);
  });
}

/**
 * Spawns an emulator in its own process group and resolves once it prints
 * `LISTENING <port>` on stdout.
 *
 * Why a process group: the emulator may start helpers, and stop must reach all of them
 * by pid, never by name. Why a stdin pipe: the child exits on EOF, so it also dies
 * when this process is SIGKILLed and no hook can run.
 */
export async function startEmulatorProcess(spec: EmulatorSpawnSpec): Promise<EmulatorProcess> {
  installExitHook();
  const child = spawn(spec.command, [...spec.args], {
    detached: true,
    stdio: ["pipe", "pipe", "pipe"],
    env: spec.env ?? process.env,
  });
  const output = { text: "" };
  tailOf(child.stdout, output);
  tailOf(child.stderr, output);
  // Not events.once: that would reject on a spawn "error", which waitForListening reports instead.
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));

  let port: number;
  try {
    port = await waitForListening(child, spec, output);
  } catch (err) {
    if (child.pid !== undefined) {
      killGroup(child.pid, "SIGKILL");
      await exited;
    }
    throw err;
  }
  const pid = child.pid as number;
  liveGroups.add(pid);
  void exited.then(() => {
    // The leader died (stopped or crashed): sweep what it left in its group and forget the
    // group id, so a later pid reuse can never be hit by the exit hook.
    killGroupQuietly(pid);
    liveGroups.delete(pid);
  });
  // The emulator must not keep this process alive on its own: when the event loop
  // empties, the exit hook kills it. Stdin stays open (its EOF is the shutdown signal).
  child.unref();
  for (const stream of [child.stdin, child.stdout, child.stderr]) {
    (stream as unknown as { unref?: () => void } | null)?.unref?.();
  }

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        killGroup(pid, "SIGTERM");
        const grace = spec.stopGraceMs ?? DEFAULT_STOP_GRACE_MS;
        let timer: NodeJS.Timeout | undefined;
        const timedOut = new Promise<"timeout">((resolve) => {
          timer = setTimeout(() => resolve("timeout"), grace);
        });
        const outcome = await Promise.race([exited, timedOut]);
        clearTimeout(timer);
        if (outcome === "timeout") killGroup(pid, "SIGKILL");
      }
      await exited;
      // The leader is gone; anything it left in its group goes too.
      killGroup(pid, "SIGKILL");
      liveGroups.delete(pid);
    })();
    return stopping;
  };
  return { endpoint: `http://127.0.0.1:${port}`, port, pid, stop };
}

function waitForListening(
  child: ChildProcess,
  spec: EmulatorSpawnSpec,
  output: { text: string },
): Promise<number> {
  const timeoutMs = spec.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  return new Promise<number>((resolve, reject) => {
    let stdoutSeen = "";
    const fail = (message: string, cause?: unknown) => {
      cleanup();
      const tail = output.text.trim();
      reject(
        new EmulatorStartError(
          `${spec.name}: ${message}${tail ? `\n--- output (tail) ---\n${tail}` : ""}`,
          cause === undefined ? undefined : { cause },
        ),
      );
    };
    const onData = (chunk: Buffer | string) => {
      stdoutSeen = (stdoutSeen + chunk.toString()).slice(-OUTPUT_TAIL_CHARS);
      const match = LISTENING.exec(stdoutSeen);
      if (match?.[1] !== undefined) {
        cleanup();
        resolve(Number(match[1]));
      }
    };
    const onError = (err: NodeJS.ErrnoException) =>
      fail(
        err.code === "ENOENT" ? `"${spec.command}" was not found on PATH` : `could not start: ${err.message}`,
        err,
      );
    const onExit = (code: number | null, signal: NodeJS.Signals | null) =>
      fail(`exited before listening (code ${code}, signal ${signal})`);
    const timer = setTimeout(() => fail(`did not report LISTENING within ${timeoutMs} ms`), timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      child.stdout?.off("data", onData);
      child.off("error", onError);
      child.off("close", onExit);
    };
    child.stdout?.on("data", onData);
    child.on("error", onError);
    // "close", not "exit": by then stderr has been read to the end, so the message shows why.
    child.on("close", onExit);
  });
}
