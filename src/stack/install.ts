import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { downloadFromMavenCentral, mavenFileName } from './maven-central';
import { MissingPrerequisiteError, StackError } from './types';

export type MavenArtifact = Readonly<{
  groupId: string;
  artifactId: string;
  version: string;
  classifier?: string;
}>;

/** Find a program on PATH. */
export function which(program: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, program);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

function javaMajor(java: string): number {
  const out = spawnSync(java, ['-version'], { encoding: 'utf8' });
  const match = /version "(\d+)/.exec(`${out.stderr}${out.stdout}`);
  return match ? Number(match[1]) : 0;
}

/**
 * A `java` of at least `minimum` (17 for Kafka, Flink and the Iceberg REST catalog; 21 for the Schema
 * Registry): JAVA_HOME's, then the one on PATH, then any JDK installed under /usr/lib/jvm (so a
 * newer JDK beside the system's default one is found without a setting). Returns its path.
 */
export function requireJava(neededFor: string, minimum = 17, jvmRoot = '/usr/lib/jvm'): string {
  const fromHome = process.env.JAVA_HOME ? path.join(process.env.JAVA_HOME, 'bin', 'java') : undefined;
  const candidates = [fromHome, which('java')].filter(
    (java): java is string => java !== undefined && fs.existsSync(java),
  );
  const howToGet =
    `Install a JDK ${minimum} or newer (Debian/Ubuntu: \`apt-get install openjdk-${minimum}-jdk-headless\`, ` +
    'or any build from https://adoptium.net) or set JAVA_HOME.';
  if (candidates.length === 0) throw new MissingPrerequisiteError('Java', neededFor, howToGet);
  const first = candidates[0] as string;
  if (javaMajor(first) >= minimum) return first;
  const installed = (() => {
    try {
      return fs.readdirSync(jvmRoot).map((dir) => path.join(jvmRoot, dir, 'bin', 'java'));
    } catch {
      return [];
    }
  })();
  const newer = [...candidates.slice(1), ...installed]
    .filter((java) => fs.existsSync(java))
    .map((java) => ({ java, major: javaMajor(java) }))
    .filter(({ major }) => major >= minimum)
    .sort((a, b) => a.major - b.major)[0];
  if (newer) return newer.java;
  throw new MissingPrerequisiteError(
    `Java ${minimum} or newer`,
    neededFor,
    `Found ${javaMajor(first) || 'an unknown version'} at ${first}. ${howToGet}`,
  );
}

export function requireMaven(neededFor: string): string {
  const mvn = which('mvn');
  if (!mvn) {
    throw new MissingPrerequisiteError(
      'Maven (mvn)',
      neededFor,
      'It downloads the service jars from Maven Central. Install it (Debian/Ubuntu: `apt-get install maven`).',
    );
  }
  return mvn;
}

/**
 * Run a long command with its output in a log file, telling the user every 15 s that it is still going.
 */
export async function runLongStep(
  label: string,
  command: string,
  args: readonly string[],
  options: {
    cwd?: string;
    env?: Record<string, string>;
    logFile: string;
    progress: (message: string) => void;
    service: string;
  },
): Promise<void> {
  await fsp.mkdir(path.dirname(options.logFile), { recursive: true });
  const log = fs.openSync(options.logFile, 'a');
  const started = Date.now();
  options.progress(`${label} (log: ${options.logFile})`);
  const ticker = setInterval(() => {
    options.progress(`${label}: still working, ${Math.round((Date.now() - started) / 1000)} s`);
  }, 15_000);
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn(command, [...args], {
        cwd: options.cwd,
        env: { ...process.env, ...options.env },
        stdio: ['ignore', log, log],
      });
      child.once('error', reject);
      child.once('exit', resolve);
    });
    if (code !== 0) throw new StackError(`${label} failed (exit ${code})`, options.service, options.logFile);
    options.progress(`${label}: done in ${Math.round((Date.now() - started) / 1000)} s`);
  } finally {
    clearInterval(ticker);
    fs.closeSync(log);
  }
}

/**
 * JVM options for the `mvn` run in `dir` (Maven reads `.mvn/jvm.config` from its working directory):
 * a download is short-lived, so the JIT stops at C1 and the collector is the serial one. On a cold
 * start four downloads run at once beside the services starting; this takes about 30% off Maven's
 * CPU time (measured: 14.1 → 9.9 CPU-seconds for the Iceberg catalog's jar into an empty repository).
 */
export async function writeMavenJvmConfig(dir: string): Promise<void> {
  await fsp.mkdir(path.join(dir, '.mvn'), { recursive: true });
  await fsp.writeFile(path.join(dir, '.mvn', 'jvm.config'), '-XX:TieredStopAtLevel=1 -XX:+UseSerialGC\n');
}

/**
 * Standalone artifacts only (nothing to resolve): straight from Maven Central, without starting
 * Maven. False, with a progress line saying why, when that fails: the caller uses Maven then.
 */
async function downloadedWithoutMaven(
  options: {
    standaloneArtifacts?: readonly MavenArtifact[];
    label: string;
    progress: (message: string) => void;
  },
  lib: string,
): Promise<boolean> {
  const files = options.standaloneArtifacts ?? [];
  if (files.length === 0) return false;
  const started = Date.now();
  options.progress(`Downloading ${options.label} from Maven Central (first run only)`);
  try {
    await fsp.rm(lib, { recursive: true, force: true });
    await Promise.all(
      files.map((file) => downloadFromMavenCentral({ file, target: path.join(lib, mavenFileName(file)) })),
    );
  } catch (error) {
    options.progress(
      `${options.label}: the direct download failed (${(error as Error).message}); using Maven`,
    );
    return false;
  }
  options.progress(`Downloading ${options.label}: done in ${Math.round((Date.now() - started) / 1000)} s`);
  return true;
}

/**
 * Resolve artifacts and their runtime dependencies from Maven Central into `<dir>/lib`, once.
 * A `.complete` marker makes a half-finished download (interrupted run) start over instead of being used.
 */
export async function ensureMavenLibs(options: {
  dir: string;
  artifacts: readonly MavenArtifact[];
  /** Artifacts whose own dependencies are not wanted (e.g. fat jars that already shade them). */
  standaloneArtifacts?: readonly MavenArtifact[];
  label: string;
  service: string;
  progress: (message: string) => void;
}): Promise<string> {
  const lib = path.join(options.dir, 'lib');
  const marker = path.join(options.dir, '.complete');
  if (fs.existsSync(marker)) return lib;
  if (options.artifacts.length === 0 && (await downloadedWithoutMaven(options, lib))) {
    await fsp.writeFile(marker, new Date().toISOString());
    return lib;
  }
  const mvn = requireMaven(options.label);
  requireJava(options.label);
  await fsp.rm(lib, { recursive: true, force: true });
  await fsp.mkdir(options.dir, { recursive: true });
  const dependency = (a: MavenArtifact, exclusions: boolean) =>
    `<dependency><groupId>${a.groupId}</groupId><artifactId>${a.artifactId}</artifactId><version>${a.version}</version>` +
    (a.classifier ? `<classifier>${a.classifier}</classifier>` : '') +
    (exclusions
      ? '<exclusions><exclusion><groupId>*</groupId><artifactId>*</artifactId></exclusion></exclusions>'
      : '') +
    '</dependency>';
  const pom = `<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.meshloop.stack</groupId>
  <artifactId>${options.service}-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    ${options.artifacts.map((a) => dependency(a, false)).join('\n    ')}
    ${(options.standaloneArtifacts ?? []).map((a) => dependency(a, true)).join('\n    ')}
  </dependencies>
</project>
`;
  await fsp.writeFile(path.join(options.dir, 'pom.xml'), pom);
  await writeMavenJvmConfig(options.dir);
  await runLongStep(
    `Downloading ${options.label} jars from Maven Central (first run only)`,
    mvn,
    [
      '-B',
      '--no-transfer-progress',
      'dependency:copy-dependencies',
      `-DoutputDirectory=${lib}`,
      '-DincludeScope=runtime',
    ],
    {
      cwd: options.dir,
      logFile: path.join(options.dir, 'install.log'),
      progress: options.progress,
      service: options.service,
    },
  );
  await fsp.writeFile(marker, new Date().toISOString());
  return lib;
}
