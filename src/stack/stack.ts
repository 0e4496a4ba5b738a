import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { StackConfig } from '../config';
import { portOpen, waitUntil } from './probe';
import { isOurs, launchDetached, readRunRecord, stopProcess } from './process';
import { sandboxed } from './sandbox';
import { stackServices } from './services';
import type { ServiceContext, ServiceDefinition, ServicePaths } from './types';
import { StackError } from './types';

export type ServiceUpResult = Readonly<{
  service: string;
  title: string;
  state: 'started' | 'reused';
  pid: number;
  seconds: number;
  urls: Readonly<Record<string, string>>;
}>;

export type ServiceStatus = Readonly<{
  service: string;
  title: string;
  state: 'healthy' | 'unhealthy' | 'stopped';
  pid?: number;
  urls: Readonly<Record<string, string>>;
  logFile: string;
}>;

export type StackOptions = Readonly<{
  /** Limit to these services (and what they depend on). Default: all. */
  only?: readonly string[];
  progress?: (message: string) => void;
}>;

export function servicePaths(config: StackConfig, service: string): ServicePaths {
  return {
    stateDir: path.join(config.dataDir, service),
    logFile: path.join(config.dataDir, 'logs', `${service}.log`),
    runFile: path.join(config.dataDir, 'run', `${service}.json`),
  };
}

/**
 * The services `stack up` starts: those selected that no setting points at your own platform. Naming
 * one that is elsewhere is an error that says which setting points it there.
 */
function localServices(config: StackConfig, only: readonly string[] | undefined): ServiceDefinition[] {
  for (const name of only ?? []) {
    const elsewhere = config.elsewhere[name];
    if (elsewhere) {
      throw new StackError(
        `${name} is your own platform's (${elsewhere.setting}: ${elsewhere.address}), not the local stack's; ` +
          `unset ${elsewhere.setting} to run it locally`,
      );
    }
  }
  return selectServices(only).filter((service) => !config.elsewhere[service.name]);
}

/** The selected services that settings point at your own platform, for `stack` to say so. */
export function servicesElsewhere(
  config: StackConfig,
  only?: readonly string[],
): Array<{ service: string; setting: string; address: string }> {
  const wanted = new Set((only ?? []).length > 0 ? only : stackServices.map((service) => service.name));
  return Object.entries(config.elsewhere)
    .filter(([service]) => wanted.has(service))
    .map(([service, { setting, address }]) => ({ service, setting, address }));
}

function selectServices(only: readonly string[] | undefined): ServiceDefinition[] {
  if (!only || only.length === 0) return [...stackServices];
  const known = new Map(stackServices.map((service) => [service.name, service]));
  const wanted = new Set<string>();
  const add = (name: string) => {
    const service = known.get(name);
    if (!service) throw new StackError(`unknown service '${name}'; known: ${[...known.keys()].join(', ')}`);
    wanted.add(name);
    for (const dependency of [...(service.dependsOn ?? []), ...(service.startsWith ?? [])]) add(dependency);
  };
  only.forEach(add);
  return stackServices.filter((service) => wanted.has(service.name));
}

function contextFor(
  config: StackConfig,
  service: ServiceDefinition,
  progress: (m: string) => void,
): ServiceContext {
  return { config, paths: servicePaths(config, service.name), progress };
}

async function tailOf(file: string, lines = 15): Promise<string> {
  const text = await fsp.readFile(file, 'utf8').catch(() => '');
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

/**
 * Start every service that is not already running; reuse the ones that are. Services with no
 * dependency between them install and start concurrently.
 */
export async function stackUp(config: StackConfig, options: StackOptions = {}): Promise<ServiceUpResult[]> {
  const progress = options.progress ?? (() => undefined);
  const services = localServices(config, options.only);
  if (services.length === 0) return [];
  // State, logs and Temporal's history (specs, comments) live here: readable by this user only.
  await fsp.mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  await fsp.chmod(config.dataDir, 0o700);
  const results = new Map<string, Promise<ServiceUpResult>>();
  const start = (service: ServiceDefinition): Promise<ServiceUpResult> => {
    let pending = results.get(service.name);
    if (!pending) {
      const dependencies = services.filter((other) => service.dependsOn?.includes(other.name));
      pending = Promise.all(dependencies.map(start)).then(() => bringUp(config, service, progress));
      results.set(service.name, pending);
    }
    return pending;
  };
  const settled = await Promise.allSettled(services.map(start));
  const failures = settled.flatMap((outcome) =>
    outcome.status === 'rejected' ? [outcome.reason as Error] : [],
  );
  if (failures.length > 0) {
    if (failures.length === 1) throw failures[0]!;
    throw new StackError(failures.map((failure) => failure.message).join('\n'));
  }
  return settled.map((outcome) => (outcome as PromiseFulfilledResult<ServiceUpResult>).value);
}

async function bringUp(
  config: StackConfig,
  service: ServiceDefinition,
  progress: (m: string) => void,
): Promise<ServiceUpResult> {
  const started = Date.now();
  const ctx = contextFor(config, service, progress);
  const result = (state: ServiceUpResult['state'], pid: number): ServiceUpResult => ({
    service: service.name,
    title: service.title,
    state,
    pid,
    seconds: (Date.now() - started) / 1000,
    urls: service.urls(config),
  });

  const existing = await readRunRecord(ctx.paths.runFile);
  if (existing && isOurs(existing)) {
    // Ours and running: reuse it, waiting if it is still starting.
    const outcome = await waitUntil(() => service.probe(ctx), {
      timeoutMs: config.readyTimeoutMs,
      stillAlive: () => isOurs(existing),
    });
    if (outcome === 'ready') return result('reused', existing.pid);
    throw new StackError(
      `running as pid ${existing.pid} but not healthy after ${config.readyTimeoutMs / 1000} s; ` +
        'run `meshloop stack down` and try again',
      service.name,
      ctx.paths.logFile,
    );
  }

  for (const { port, setting } of service.ports(config)) {
    if (await portOpen(port)) {
      throw new StackError(
        `port ${port} on 127.0.0.1 is already taken by a process Meshloop did not start. ` +
          `Stop that process, or choose another port with ${setting}=<port>.`,
        service.name,
      );
    }
  }

  await service.install(ctx);
  const prepared = await service.prepare(ctx);
  const plan = sandboxed(prepared, config.hidden) ?? prepared;
  if (plan === prepared) {
    progress(
      `${service.name}: starting WITHOUT its sandbox (this machine refuses unprivileged user namespaces: ` +
        '`unshare --user` failed): it can read every file of your user, keys included (docs/trust-model.md)',
    );
  }
  progress(`${service.name}: starting`);
  const record = await launchDetached(service.name, plan, ctx.paths.logFile, ctx.paths.runFile);
  const outcome = await waitUntil(() => service.probe(ctx), {
    timeoutMs: config.readyTimeoutMs,
    stillAlive: () => isOurs(record),
  });
  if (outcome !== 'ready') {
    const why =
      outcome === 'exited'
        ? 'the process exited during start-up'
        : `not ready after ${config.readyTimeoutMs / 1000} s (MESHLOOP_READY_TIMEOUT_S raises the deadline)`;
    await stopProcess(record, 5000);
    await fsp.rm(ctx.paths.runFile, { force: true });
    throw new StackError(
      `${why}. Last lines of its log:\n${await tailOf(ctx.paths.logFile)}`,
      service.name,
      ctx.paths.logFile,
    );
  }
  await service.afterReady?.(ctx);
  progress(`${service.name}: ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return result('started', record.pid);
}

/** Stop exactly the processes `up` started (by their recorded pids), dependants first. */
export async function stackDown(
  config: StackConfig,
  options: StackOptions & { purge?: boolean } = {},
): Promise<Array<{ service: string; outcome: 'stopped' | 'killed' | 'not running' }>> {
  const services = selectServices(options.only).reverse();
  const outcomes = [];
  for (const service of services) {
    const paths = servicePaths(config, service.name);
    const record = await readRunRecord(paths.runFile);
    const outcome = record ? await stopProcess(record) : ('not running' as const);
    await fsp.rm(paths.runFile, { force: true });
    if (options.purge) await fsp.rm(paths.stateDir, { recursive: true, force: true });
    options.progress?.(`${service.name}: ${outcome}`);
    outcomes.push({ service: service.name, outcome });
  }
  // `down --purge` with no service names passes an empty list: that is the whole platform too.
  const wholePlatform = !options.only || options.only.length === 0;
  if (options.purge && wholePlatform) await fsp.rm(config.dataDir, { recursive: true, force: true });
  return outcomes;
}

export async function stackStatus(config: StackConfig, options: StackOptions = {}): Promise<ServiceStatus[]> {
  return Promise.all(
    selectServices(options.only)
      .filter((service) => !config.elsewhere[service.name])
      .map(async (service): Promise<ServiceStatus> => {
        const ctx = contextFor(config, service, () => undefined);
        const record = await readRunRecord(ctx.paths.runFile);
        const base = {
          service: service.name,
          title: service.title,
          urls: service.urls(config),
          logFile: ctx.paths.logFile,
        };
        if (!record || !isOurs(record)) return { ...base, state: 'stopped' };
        return { ...base, pid: record.pid, state: (await service.probe(ctx)) ? 'healthy' : 'unhealthy' };
      }),
  );
}

export function stackLogFiles(
  config: StackConfig,
  only?: readonly string[],
): Array<{ service: string; file: string }> {
  return selectServices(only)
    .map((service) => ({ service: service.name, file: servicePaths(config, service.name).logFile }))
    .filter(({ file }) => fs.existsSync(file));
}

export { tailOf };
