import type { MaterializationPlan, MaterializerProvider, TableStatus } from '../domain/materialization';

/**
 * One interface, two providers: a Flink job writing the product's topic into its Iceberg table
 * (`flink`, local and self-managed), or Confluent Tableflow (`tableflow`, Confluent Cloud). Every
 * method is keyed by the plan's product id and revision and safe to repeat.
 */
export interface Materializer {
  readonly provider: MaterializerProvider;
  /** Create (or find, or evolve) the table before anything writes to it. */
  ensureTable(plan: MaterializationPlan): Promise<TableResult>;
  /** Start keeping the table current from the topic; finds a running materialization instead of starting a second. */
  start(plan: MaterializationPlan, options?: StartOptions): Promise<StartResult>;
  /** Stop (Flink: with a savepoint, to resume a later revision from it; Tableflow: disable). */
  stop(plan: MaterializationPlan, options?: StopOptions): Promise<StopResult>;
  describe(plan: MaterializationPlan): Promise<MaterializationStatus>;
}

export type TableResult = Readonly<{
  table: string;
  /** Iceberg table uuid (flink); Tableflow's resource name (tableflow). */
  id?: string;
  created: boolean;
  addedColumns: readonly string[];
}>;

export type StartOptions = Readonly<{
  /** A savepoint of the previous revision's job to resume from (flink). */
  savepoint?: string;
}>;

export type StartResult = Readonly<{
  /** Flink job id, or the Tableflow topic's name. */
  id: string;
  name: string;
  /** False when it was already running (a retry or replay). */
  started: boolean;
  url?: string;
}>;

export type StopOptions = Readonly<{
  /** Flink: emit end-of-input before stopping (for a retirement, not a redeploy). */
  drain?: boolean;
}>;

export type StopResult = Readonly<{
  stopped: boolean;
  /** Where the Flink savepoint is (resume a new revision from it). */
  savepoint?: string;
}>;

export type BadRecord = Readonly<{ topic: string; partition: number; offset: number; error: string }>;

export type MaterializationStatus = Readonly<{
  provider: MaterializerProvider;
  /** RUNNING, FAILED, ... (Flink job state) or Tableflow's phase; NOT_FOUND when none runs. */
  state: string;
  jobId?: string;
  /** Flink's root exception or Tableflow's error message, when it failed. */
  failure?: string;
  table: TableStatus;
  /** Records that did not fit the schema: in the dead-letter table (log, skip, suspend). */
  badRecords: number;
  /** With `suspend`: the first bad record; the job must stop and the product be degraded. */
  suspendedAt?: BadRecord;
}>;
