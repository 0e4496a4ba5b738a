import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { StackConfig } from '../config';
import { projectRoot } from '../config';
import { requireJava } from './install';
import { MissingPrerequisiteError, StackError } from './types';

/**
 * The materialization's one-pass JSON parser, a Flink scalar function of our own
 * (src/materialize/udf/JsonFields.java), compiled with the JDK's javac against the stack's Flink
 * jars (from Maven Central) into a small jar under the cache folder. Keyed by the source's hash and
 * Flink's version, so an edited function is built afresh. Built when the stack installs Flink, and
 * on first use by a worker whose platform was installed before (the jar is then missing).
 */

export const parserSourceFile = path.join(projectRoot, 'src', 'materialize', 'udf', 'JsonFields.java');
const run = promisify(execFile);

/** Where the built jar lives for this stack (it may not exist yet). */
export function parserJarPath(
  stack: StackConfig,
  source = fs.readFileSync(parserSourceFile, 'utf8'),
): string {
  const key = createHash('sha256').update(`${stack.flink.version}\n${source}`).digest('hex').slice(0, 8);
  return path.join(stack.cacheDir, `meshloop-flink-udf-${key}`, 'meshloop-flink-udf.jar');
}

const builds = new Map<string, Promise<string>>();

/**
 * The jar's path, built first when missing against the Flink jars in `flinkLib` (the stack's
 * `flinkHome(stack)/lib`); once per process, and concurrent builders rename atomically.
 */
export function ensureParserJar(stack: StackConfig, flinkLib: string): Promise<string> {
  const source = fs.readFileSync(parserSourceFile, 'utf8');
  const jar = parserJarPath(stack, source);
  let pending = builds.get(jar);
  if (!pending) {
    pending = buildParserJar(jar, flinkLib);
    pending.catch(() => builds.delete(jar));
    builds.set(jar, pending);
  }
  return pending;
}

async function buildParserJar(jar: string, lib: string): Promise<string> {
  if (fs.existsSync(jar)) return jar;
  if (!fs.existsSync(lib)) {
    throw new StackError(
      `the materialization's JSON parser is compiled against Flink's jars, which are not in ${lib} yet. ` +
        'Run `meshloop stack up` (it downloads them), or set MESHLOOP_MATERIALIZE_PARSER_JAR ' +
        "(a jar Flink's SQL Gateway reads, or `none` for the per-field JSON functions).",
      'flink',
    );
  }
  const java = requireJava("the materialization's JSON parser");
  const bin = path.dirname(fs.realpathSync(java));
  const javac = path.join(bin, 'javac');
  const jarTool = path.join(bin, 'jar');
  if (!fs.existsSync(javac) || !fs.existsSync(jarTool)) {
    throw new MissingPrerequisiteError(
      'A JDK (javac and jar)',
      "the materialization's JSON parser",
      `Found only a Java runtime at ${java}. Install a JDK (Debian/Ubuntu: \`apt-get install openjdk-17-jdk-headless\`) or set MESHLOOP_MATERIALIZE_PARSER_JAR=none.`,
    );
  }
  const work = `${path.dirname(jar)}.${process.pid}.${Date.now()}.tmp`;
  const classes = path.join(work, 'classes');
  await fsp.mkdir(classes, { recursive: true });
  try {
    // Java 11 bytecode: Flink 1.20 clusters run on 11, 17 or 21.
    await run(javac, ['--release', '11', '-nowarn', '-cp', `${lib}/*`, '-d', classes, parserSourceFile]);
    await run(jarTool, ['cf', path.join(work, path.basename(jar)), '-C', classes, '.']);
    await fsp.rm(classes, { recursive: true, force: true });
    await fsp.mkdir(path.dirname(path.dirname(jar)), { recursive: true });
    await fsp.rename(work, path.dirname(jar)).catch((error: NodeJS.ErrnoException) => {
      // Another process built it first: theirs is the same jar.
      if (!fs.existsSync(jar)) throw error;
    });
    return jar;
  } catch (error) {
    const detail = (error as { stderr?: string }).stderr ?? (error as Error).message;
    throw new StackError(`building the materialization's JSON parser failed: ${detail.trim()}`, 'flink');
  } finally {
    await fsp.rm(work, { recursive: true, force: true });
  }
}
