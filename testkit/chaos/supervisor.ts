/**
 * Runs concord's roles as separate OS processes (`concord role …`), each in its
 * own process group, kills them on a seeded schedule and restarts them.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { CRASH_POINTS, type CrashPoint } from "../../src/crash-points.ts";
import { sleep } from "../../src/timers.ts";
import { deriveSeed, FAULTS_ENV, type FaultPlan, seededRandom } from "../faults/fault-plan.ts";

export type RoleKey = "api" | "coordinator" | "sweeper" | `bank-${number}`;

const CLI = fileURLToPath(new URL("../../src/local/cli.ts", import.meta.url));
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const READY_TIMEOUT_MS = 30_000;

/** The crash points each role passes through. */
export function crashPointsOf(role: RoleKey): readonly CrashPoint[] {
  if (role === "api") return ["after-record-before-prepare"];
  if (role === "coordinator") return ["after-votes-before-decision", "after-decision-before-send"];
  if (role === "sweeper") return ["after-claim-before-send"];
  return CRASH_POINTS.filter((p) =>
    [
      "before-prepare",
      "after-prepare-before-vote",
      "before-commit",
      "after-commit-before-ack",
      "after-rollback-before-ack",
      "before-self-delivery",
    ].includes(p),
  );
}

/** One step of the kill schedule: whom to SIGKILL, and where it dies next time (when crash points are on). */
export interface KillStep {
  readonly victim: RoleKey;
  /** CONCORD_CRASH_AT for the restarted process, e.g. `before-commit:7`. */
  readonly crashAt?: string;
}

/** The kill schedule, a pure function of the seed: the same seed gives the same victims and crash points. */
export function killSchedule(seed: number, roles: readonly RoleKey[], crashPoints: boolean): () => KillStep {
  const random = seededRandom(deriveSeed(seed, "kills"));
  return () => {
    const victim = roles[Math.floor(random() * roles.length)] as RoleKey;
    const points = crashPointsOf(victim);
    const point = points[Math.floor(random() * points.length)] as CrashPoint;
    const hit = 1 + Math.floor(random() * 20);
    const useCrash = random() < 0.5;
    return crashPoints && useCrash ? { victim, crashAt: `${point}:${hit}` } : { victim };
  };
}

const argsOf = (role: RoleKey, apiPort: number): string[] =>
  role.startsWith("bank-")
    ? ["participants", "--participant", role]
    : role === "api"
      ? ["api", "--port", String(apiPort)]
      : [role];

interface Running {
  readonly child: ChildProcess;
  readonly ready: Promise<void>;
  /** Set when the supervisor kills it, so the exit is not counted as a crash. */
  killed: boolean;
  tail: string;
}

export interface SupervisorOptions {
  readonly roles: readonly RoleKey[];
  readonly env: NodeJS.ProcessEnv;
  readonly apiPort: number;
  readonly seed: number;
}

export interface SupervisorStats {
  kills: number;
  /** Processes that died on their own (a crash point) and were restarted. */
  crashes: number;
  restarts: number;
}

export class Supervisor {
  readonly stats: SupervisorStats = { kills: 0, crashes: 0, restarts: 0 };
  private readonly running = new Map<RoleKey, Running>();
  private readonly incarnations = new Map<RoleKey, number>();
  private plan: FaultPlan | undefined;
  private stopped = false;
  private readonly onExit = () => this.killAllSync();

  constructor(private readonly options: SupervisorOptions) {
    process.on("exit", this.onExit);
  }

  /** The plan that processes started from now on get (undefined: no faults). */
  setFaults(plan: FaultPlan | undefined): void {
    this.plan = plan;
  }

  async startAll(): Promise<void> {
    await Promise.all(this.options.roles.map((r) => this.start(r)));
  }

  /** Starts a role, with the current fault plan (its own seed per incarnation) and an optional crash point. */
  async start(role: RoleKey, crashAt?: string): Promise<void> {
    // One process per role. Two restarts can race (a crash point's restart fires
    // while a bounce sleeps): the later one replaces the earlier process instead
    // of leaving it running untracked, where stop() would never reach it.
    for (;;) {
      const current = this.running.get(role);
      await this.kill(role);
      // Another start may have spawned while this one waited: kill that one too.
      if (this.running.get(role) === current) break;
    }
    if (this.stopped) return;
    const n = (this.incarnations.get(role) ?? 0) + 1;
    this.incarnations.set(role, n);
    const env: NodeJS.ProcessEnv = { ...this.options.env };
    delete env[FAULTS_ENV];
    delete env.CONCORD_CRASH_AT;
    if (this.plan) {
      env[FAULTS_ENV] = JSON.stringify({ ...this.plan, seed: deriveSeed(this.plan.seed, `${role}#${n}`) });
    }
    if (crashAt) env.CONCORD_CRASH_AT = crashAt;
    const child = spawn(
      process.execPath,
      ["--import", "tsx", CLI, "role", ...argsOf(role, this.options.apiPort)],
      { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"], detached: true },
    );
    const entry: Running = { child, ready: Promise.resolve(), killed: false, tail: "" };
    const keep = (chunk: Buffer) => {
      entry.tail = (entry.tail + chunk.toString()).slice(-4000);
    };
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${role} did not start:\n${entry.tail}`)),
        READY_TIMEOUT_MS,
      );
      child.stdout?.on("data", (chunk: Buffer) => {
        keep(chunk);
        if (/^running /m.test(entry.tail)) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.stderr?.on("data", keep);
      child.once("exit", (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`${role} exited (${signal ?? code}) before it was ready:\n${entry.tail}`));
      });
    });
    Object.assign(entry, { ready });
    this.running.set(role, entry);
    child.once("exit", () => {
      if (entry.killed || this.stopped || this.running.get(role) !== entry) return;
      // Died on its own: a crash point fired (or a bug). Bring it back, without the crash point.
      this.stats.crashes++;
      setTimeout(() => {
        if (!this.stopped && this.running.get(role) === entry) this.restart(role);
      }, 200);
    });
    try {
      await ready;
    } catch (err) {
      // A crash point can fire during start-up work (the sweeper's first sweep): the exit handler restarts it.
      if (entry.killed || child.exitCode !== null || child.signalCode !== null) return;
      throw err;
    }
  }

  private restart(role: RoleKey): void {
    this.stats.restarts++;
    this.start(role).catch((err: unknown) => {
      process.stderr.write(`\nchaos: restarting ${role} failed: ${String(err)}\n`);
    });
  }

  /** SIGKILL to the role's process group; resolves once it is gone. */
  kill(role: RoleKey): Promise<void> {
    const entry = this.running.get(role);
    if (!entry) return Promise.resolve();
    entry.killed = true;
    const { child } = entry;
    return new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once("exit", () => resolve());
      try {
        process.kill(-(child.pid as number), "SIGKILL");
      } catch {
        resolve();
      }
    });
  }

  /** Kills a role and starts it again after `pauseMs`. */
  async bounce(step: KillStep, pauseMs: number): Promise<void> {
    this.stats.kills++;
    await this.kill(step.victim);
    await sleep(pauseMs);
    if (this.stopped) return;
    this.stats.restarts++;
    await this.start(step.victim, step.crashAt);
  }

  /** Kills every role and starts them all again with the current plan and no crash points. */
  async restartAll(): Promise<void> {
    await Promise.all(this.options.roles.map((r) => this.kill(r)));
    await this.startAll();
  }

  /** The last output of a role, for diagnostics. */
  tail(role: RoleKey): string {
    return this.running.get(role)?.tail ?? "";
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.options.roles.map((r) => this.kill(r)));
    process.off("exit", this.onExit);
  }

  /** For exit and signal handlers: no waiting, nothing left behind. */
  killAllSync(): void {
    this.stopped = true;
    for (const entry of this.running.values()) {
      entry.killed = true;
      const { child } = entry;
      if (child.exitCode !== null || child.signalCode !== null) continue;
      try {
        process.kill(-(child.pid as number), "SIGKILL");
      } catch {}
    }
  }
}

/** Runs `step` every `everyMs` until `until` says stop; steps never overlap. */
export async function killLoop(
  supervisor: Supervisor,
  next: () => KillStep,
  everyMs: number,
  pauseMs: number,
  done: () => boolean,
): Promise<void> {
  while (!done()) {
    await sleep(everyMs);
    if (done()) return;
    try {
      await supervisor.bounce(next(), pauseMs);
    } catch (err) {
      process.stderr.write(`\nchaos: ${String(err)}\n`);
    }
  }
}
