import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { MeshloopConfig } from '../../src/config';
import { loadConfig } from '../../src/config';
import { ensureMavenLibs, requireJava } from '../../src/stack/install';
import { httpOk, portOpen, waitUntil } from '../../src/stack/probe';
import { ICEBERG_LAUNCHER_CLASS, icebergLauncherClasspath } from '../../src/stack/services/iceberg';
import { testEnvironment, testPlatform } from './platform';

/**
 * An Iceberg warehouse on an S3-compatible object store, beside the shared test platform: S3Proxy
 * (org.gaul:s3proxy, from Maven Central; its filesystem backend, with an access key and secret it
 * checks) and a second Iceberg REST catalog (the stack's own `iceberg-open-api` jar) whose warehouse
 * is `s3://<bucket>/warehouse` there, using Iceberg's S3FileIO. Started once per test run on first use
 * (about 5 s once the jars are cached; the S3Proxy jar is 55 MB on first use) and stopped when the
 * run ends (root-hooks). `profile` is the environment that points Meshloop at it (with the rest of
 * the shared platform): the catalog with OAuth2 client credentials, the warehouse, the object store.
 *
 * The catalog fixture hands a token to any client id and secret and never checks tokens: the OAuth2
 * flow runs for real, the credentials are not verified. The object store does check its keys.
 */

export const s3ProxyVersion = '4.1.0';

export type ObjectStorePlatform = Readonly<{
  /** The environment variables of the profile (merge over `testEnvironment()`). */
  profile: Readonly<Record<string, string>>;
  config: MeshloopConfig;
  bucket: string;
  /** S3Proxy's filesystem backend: `<dir>/<bucket>/<key>`. */
  storeDir: string;
  s3Endpoint: string;
  catalogUrl: string;
}>;

const children: ChildProcess[] = [];
let platform: Promise<ObjectStorePlatform> | undefined;

function ports(): { s3: number; catalog: number } {
  const offset = Number(process.env.MESHLOOP_TEST_PORT_OFFSET ?? 10000);
  return { s3: 7070 + offset, catalog: 7181 + offset };
}

function start(name: string, command: string, args: string[], env: NodeJS.ProcessEnv, logFile: string) {
  const log = fs.openSync(logFile, 'a');
  const child = spawn(command, args, { env, stdio: ['ignore', log, log] });
  fs.closeSync(log);
  child.once('error', (error) => process.stderr.write(`      [object store] ${name}: ${error.message}\n`));
  children.push(child);
  return child;
}

async function ready(name: string, probe: () => Promise<boolean>, logFile: string): Promise<void> {
  const outcome = await waitUntil(probe, { timeoutMs: 60_000, intervalMs: 200 });
  if (outcome !== 'ready') {
    const tail = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').slice(-1500) : '';
    throw new Error(`${name} did not become ready in 60 s; its log ends:\n${tail}`);
  }
}

export function objectStorePlatform(): Promise<ObjectStorePlatform> {
  platform ??= startPlatform();
  return platform;
}

async function startPlatform(): Promise<ObjectStorePlatform> {
  const shared = await testPlatform(); // installs the catalog jar, and the rest runs there
  const began = Date.now();
  const { s3, catalog } = ports();
  for (const port of [s3, catalog]) {
    if (await portOpen(port)) throw new Error(`port ${port} is taken: the object-store platform needs it`);
  }
  const java = requireJava('S3Proxy and the Iceberg REST catalog');
  const s3proxyDir = path.join(shared.stack.cacheDir, `s3proxy-${s3ProxyVersion}`);
  const lib = await ensureMavenLibs({
    dir: s3proxyDir,
    artifacts: [],
    standaloneArtifacts: [
      {
        groupId: 'org.gaul',
        artifactId: 's3proxy',
        version: s3ProxyVersion,
        classifier: 'jar-with-dependencies',
      },
    ],
    label: `S3Proxy ${s3ProxyVersion} (a 55 MB jar)`,
    service: 's3proxy',
    progress: (message) => process.stderr.write(`      [object store] ${message}\n`),
  });
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'meshloop-object-store-'));
  const storeDir = path.join(dir, 'buckets');
  const bucket = 'lakehouse';
  await fsp.mkdir(path.join(storeDir, bucket), { recursive: true });
  const accessKeyId = `meshloop${randomBytes(4).toString('hex')}`;
  const secretAccessKey = randomBytes(18).toString('base64url');
  const s3Endpoint = `http://127.0.0.1:${s3}`;
  const properties = path.join(dir, 's3proxy.properties');
  await fsp.writeFile(
    properties,
    [
      `s3proxy.endpoint=${s3Endpoint}`,
      's3proxy.authorization=aws-v2-or-v4',
      `s3proxy.identity=${accessKeyId}`,
      `s3proxy.credential=${secretAccessKey}`,
      'jclouds.provider=filesystem',
      `jclouds.filesystem.basedir=${storeDir}`,
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  const s3Log = path.join(dir, 's3proxy.log');
  const jar = path.join(lib, `s3proxy-${s3ProxyVersion}-jar-with-dependencies.jar`);
  start(
    'S3Proxy',
    java,
    ['-Xmx192m', '-XX:+UseSerialGC', '-jar', jar, '--properties', properties],
    {},
    s3Log,
  );

  const warehouse = `s3://${bucket}/warehouse`;
  const catalogLog = path.join(dir, 'catalog.log');
  start(
    'Iceberg REST catalog',
    java,
    [
      '-Xms64m',
      '-Xmx384m',
      '-XX:+UseSerialGC',
      '-cp',
      await icebergLauncherClasspath(shared.stack, java),
      ICEBERG_LAUNCHER_CLASS,
    ],
    {
      CATALOG_WAREHOUSE: warehouse,
      CATALOG_URI: `jdbc:sqlite:${path.join(dir, 'catalog.db')}`,
      CATALOG_REST_PORT: String(catalog),
      CATALOG_IO__IMPL: 'org.apache.iceberg.aws.s3.S3FileIO',
      CATALOG_S3_ENDPOINT: s3Endpoint,
      CATALOG_S3_PATH__STYLE__ACCESS: 'true',
      CATALOG_S3_ACCESS__KEY__ID: accessKeyId,
      CATALOG_S3_SECRET__ACCESS__KEY: secretAccessKey,
      CATALOG_CLIENT_REGION: 'us-east-1',
    },
    catalogLog,
  );
  const catalogUrl = `http://127.0.0.1:${catalog}`;
  await Promise.all([
    ready('S3Proxy', () => portOpen(s3), s3Log),
    ready('the Iceberg REST catalog', () => httpOk(`${catalogUrl}/v1/config`), catalogLog),
  ]);
  const profile = {
    MESHLOOP_ICEBERG_REST_URL: catalogUrl,
    MESHLOOP_ICEBERG_WAREHOUSE: warehouse,
    MESHLOOP_ICEBERG_CLIENT_ID: 'meshloop',
    MESHLOOP_ICEBERG_CLIENT_SECRET: randomBytes(12).toString('base64url'),
    AWS_ENDPOINT_URL_S3: s3Endpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: accessKeyId,
    AWS_SECRET_ACCESS_KEY: secretAccessKey,
  };
  process.stderr.write(
    `      [object store] S3Proxy and an Iceberg catalog on it ready in ${((Date.now() - began) / 1000).toFixed(1)} s\n`,
  );
  return {
    profile,
    config: loadConfig({ ...testEnvironment(), ...profile }),
    bucket,
    storeDir,
    s3Endpoint,
    catalogUrl,
  };
}

/** Stops both servers (root-hooks, at the end of the run) and removes their files. */
export async function stopObjectStorePlatform(): Promise<void> {
  if (!platform) return;
  const started = await platform.catch(() => undefined);
  await Promise.all(
    children.splice(0).map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
          child.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
          child.kill('SIGTERM');
        }),
    ),
  );
  if (started) await fsp.rm(path.dirname(started.storeDir), { recursive: true, force: true });
  platform = undefined;
}

// Never outlive the test run, even when it ends abruptly.
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});
