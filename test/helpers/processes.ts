/** Roles as separate OS processes (`concord role …`), each killable on its own. */
import { type ChildProcess, spawn } from "node:child_process";

export interface RoleProcess {
  readonly child: ChildProcess;
  /** Resolves with the line that says the role is running. */
  readonly ready: Promise<string>;
  output(): string;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** Starts `concord role <args>` with `env`; resolves `ready` on its "running" line. */
export function startRole(args: readonly string[], env: NodeJS.ProcessEnv): RoleProcess {
  const child = spawn(process.execPath, ["--import", "tsx", "src/local/cli.ts", "role", ...args], {
    env: { ...process.env, ...env, CONCORD_LOG_LEVEL: "WARN" },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let out = "";
  const ready = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`role ${args.join(" ")} did not start:\n${out}`)),
      30_000,
    );
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split("\n").find((l) => l.startsWith("running "));
      if (line) {
        clearTimeout(timer);
        resolve(line);
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", (c: Buffer) => {
      out += c.toString();
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`role ${args.join(" ")} exited with ${code}:\n${out}`));
    });
  });
  ready.catch(() => {});
  return {
    child,
    ready,
    output: () => out,
    kill(signal = "SIGKILL") {
      return new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once("exit", () => resolve());
        try {
          process.kill(-(child.pid as number), signal);
        } catch {
          resolve();
        }
      });
    },
  };
}

/** A process started in its own group (`detached`), and when it exited. */
export interface GroupProcess {
  readonly pid: number;
  readonly exited: Promise<void>;
}

/**
 * SIGTERM to each group (a CLI stops its emulators on it), then, after up to
 * 10 s of grace, SIGKILL to what is left; resolves once every leader exited.
 */
export async function stopGroups(groups: readonly GroupProcess[]): Promise<void> {
  for (const p of groups) signalGroup(p.pid, "SIGTERM");
  await Promise.all(
    groups.map(async (p) => {
      for (let i = 0; i < 100 && groupAlive(p.pid); i++) await new Promise((r) => setTimeout(r, 100));
      signalGroup(p.pid, "SIGKILL");
      await p.exited;
    }),
  );
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is gone already.
  }
}

function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}
