import type { StackConfig } from '../config';

/** Where one service keeps its state and log inside the data directory. */
export type ServicePaths = Readonly<{ stateDir: string; logFile: string; runFile: string }>;

export type ServiceContext = Readonly<{
  config: StackConfig;
  paths: ServicePaths;
  /** Human progress for long work (downloads, builds); shown while `stack up` runs. */
  progress: (message: string) => void;
}>;

export type LaunchPlan = Readonly<{
  command: string;
  args: readonly string[];
  env?: Readonly<Record<string, string>>;
  cwd?: string;
}>;

export interface ServiceDefinition {
  readonly name: string;
  readonly title: string;
  /** Services that must be healthy before this one starts. */
  readonly dependsOn?: readonly string[];
  /**
   * Services this one needs running but may start alongside (it waits for them itself, e.g. a Flink
   * TaskManager retrying to register): `up <this>` brings them up too, without ordering.
   */
  readonly startsWith?: readonly string[];
  /** The ports this service binds, with the setting that changes each. */
  ports(config: StackConfig): ReadonlyArray<{ port: number; setting: string }>;
  /** Addresses shown by `stack status`. */
  urls(config: StackConfig): Readonly<Record<string, string>>;
  /** Check prerequisites, then download or build into the cache. Cached by version: cheap when warm. */
  install(ctx: ServiceContext): Promise<void>;
  /** Write configuration, initialise state once, and say how to start the process. */
  prepare(ctx: ServiceContext): Promise<LaunchPlan>;
  /** True when the service answers as its clients need it to. Never throws. */
  probe(ctx: ServiceContext): Promise<boolean>;
  /** Optional work once healthy (registering things). */
  afterReady?(ctx: ServiceContext): Promise<void>;
}

/** A stack failure a user can act on: it names the service and, where there is one, its log. */
export class StackError extends Error {
  constructor(
    message: string,
    readonly service?: string,
    readonly logFile?: string,
  ) {
    super(service ? `${service}: ${message}${logFile ? `\n  log: ${logFile}` : ''}` : message);
    this.name = 'StackError';
  }
}

/** A missing tool the platform needs, with how to get it. */
export class MissingPrerequisiteError extends StackError {
  constructor(tool: string, neededFor: string, howToGet: string) {
    super(`${tool} is required for ${neededFor} but was not found. ${howToGet}`);
    this.name = 'MissingPrerequisiteError';
  }
}
