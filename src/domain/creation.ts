import { bounded } from './messages';
import type { FieldType, ProductInput, ProductSpec } from './spec';

/**
 * What the creation agent (a product's Flink SQL job) is made of, as plain data shared by the
 * planner, the SQL guard, the deployment activities and the workflow. Pure.
 */

/** The name a product's SQL uses for an input: `as`, else the topic's entity or the product's name. */
export function inputAliasOf(input: ProductInput): string {
  if (input.as) return input.as;
  const name = 'topic' in input ? input.topic : input.product;
  const entity = name.includes('.') ? name.slice(name.indexOf('.') + 1) : name;
  const cleaned = entity
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
  return /^[a-z_]/.test(cleaned) ? cleaned.slice(0, 63) : `t_${cleaned}`.slice(0, 63);
}

/** Aliases used twice (two inputs named alike): each needs its own `as`. */
export function duplicateAliases(spec: Pick<ProductSpec, 'inputs'>): string[] {
  const seen = new Set<string>();
  const twice = new Set<string>();
  for (const input of spec.inputs) {
    const alias = inputAliasOf(input);
    if (seen.has(alias)) twice.add(alias);
    seen.add(alias);
  }
  return [...twice];
}

/** One declared input as the product's SQL sees it: a temporary view named by its alias. */
export type InputBinding = Readonly<{
  alias: string;
  /** The Kafka topic read (a product input reads that product's output topic). */
  topic: string;
  /** Set when the input is another product. */
  productId?: string;
  /**
   * The columns of the view: the JSON fields of the records, typed. `personal`: personal data, as
   * the topic's declaration (`pii`) or the upstream product's classification says: `raw` as it is,
   * `masked` when the upstream product's topic holds it masked. The SQL guard follows it.
   */
  fields: ReadonlyArray<Readonly<{ name: string; type: FieldType; personal?: 'raw' | 'masked' }>>;
  /** The view's event-time column (a watermark is declared on it). */
  eventTimeField?: string;
  /**
   * How the records are encoded: absent means JSON text; `avro` means Confluent's wire format,
   * decoded with the schema registered under `<topic>-value`.
   */
  format?: 'avro';
}>;

/** One output column as Flink typed it, e.g. `{ name: 'amount', type: 'DOUBLE', nullable: true }`. */
export type OutputColumn = Readonly<{ name: string; type: string; nullable: boolean }>;

/** Which input fields an output column is computed from. */
export type ColumnLineage = Readonly<{
  column: string;
  from: ReadonlyArray<Readonly<{ input: string; field: string }>>;
}>;

/** The SQL guard's verdict: problems say what is wrong and what to do; lineage when it passed. */
export type SqlCheckResult = Readonly<{
  ok: boolean;
  problems: readonly string[];
  columns: readonly OutputColumn[];
  lineage: readonly ColumnLineage[];
}>;

/** What every creation activity is given: the product's spec at one revision (small). */
export type ProductJobInput = Readonly<{ productId: string; revision: number; spec: ProductSpec }>;

/**
 * A product's output schema as the Schema Registry holds it: the address only (the text stays in
 * the registry; it is derived from the spec of `revision`).
 */
export type OutputSchemaRef = Readonly<{
  /** `<output topic>-value` (TopicNameStrategy). */
  subject: string;
  /** The registry's schema id and the subject's version. */
  id: number;
  version: number;
  /** The subject's compatibility level when registered (BACKWARD, or a stricter level found set). */
  compatibility: string;
  revision: number;
  /** False when the schema was there already (a retry, a redeploy, an unchanged amendment). */
  registered: boolean;
}>;

/** Whether the registry would take a revision's output schema as the subject's next version. */
export type OutputSchemaCheck = Readonly<
  | { compatible: true; subject: string; against?: number }
  | {
      compatible: false;
      subject: string;
      compatibility: string;
      /** The version it was tested against (the latest). */
      against: number;
      /** The registry's own words. */
      reasons: readonly string[];
    }
>;

/** Why a revision is refused before approval for its output schema, or undefined when the registry takes it. */
export function outputSchemaRefusal(check: OutputSchemaCheck): { type: string; message: string } | undefined {
  if (check.compatible) return undefined;
  // Bounded: the last error travels in carried state (at most 20 000 characters there).
  const reasons = bounded(check.reasons.join('; '), 4000);
  return {
    type: 'SchemaIncompatible',
    message:
      `the Schema Registry refuses the output schema under ${check.subject} ` +
      `(${check.compatibility}, against version ${check.against}): ${reasons}. ` +
      'Keep the change compatible (add nullable fields; keep the fields there are, with their types ' +
      'and nullability), or publish the change as a new product.',
  };
}

export type DeployResult = Readonly<{
  jobId: string;
  jobName: string;
  /** The Flink Web UI page of the job. */
  url?: string;
  /** False when a live job of this name was found (a retry or replay): nothing was submitted. */
  started: boolean;
  /** Where records the job could not read go (counted on the product). */
  rejectedTopic: string;
  /** Resumed from this savepoint, or undefined when the job started from the inputs' beginning. */
  fromSavepoint?: string;
}>;

export type ProductJobState =
  | 'INITIALIZING'
  | 'CREATED'
  | 'RUNNING'
  | 'FAILING'
  | 'FAILED'
  | 'CANCELLING'
  | 'CANCELED'
  | 'FINISHED'
  | 'RESTARTING'
  | 'SUSPENDED'
  | 'RECONCILING'
  | 'NOT_FOUND';

export type ProductJobStatus = Readonly<{
  state: ProductJobState;
  jobId?: string;
  /** Flink's root exception (first line), when the job failed or is restarting. */
  failure?: string;
  /** True when the job waits for a task slot the cluster does not have. */
  waitingForSlot: boolean;
  /** How many restarts Flink made of this job. */
  restarts: number;
  /** Input records the job skipped (not JSON, wrong types, no event time), from the rejected topic. */
  rejectedRecords: number;
  /** False when the product's output topic is gone (absent in histories recorded before). */
  outputTopicExists?: boolean;
}>;

export type StopResult = Readonly<{ stopped: boolean; savepoint?: string }>;

/** The Flink job name of a product revision: found by it, so a retried deploy never submits twice. */
export function productJobNameOf(productId: string, revision: number): string {
  return `meshloop-create:${productId}:r${revision}`;
}

/** The topic where a product's job writes the input records it could not read. */
export function rejectedTopicOf(spec: Pick<ProductSpec, 'outputTopic'>): string {
  return `${spec.outputTopic.name ?? ''}.rejected`;
}

/** Whole-SQL comparison that ignores layout: the same statement redeploys from a savepoint. */
export function normalisedSql(sql: string | undefined): string {
  return (sql ?? '').replace(/\s+/g, ' ').trim().replace(/\s*;$/, '');
}

/** A product's Flink job as its workflow last saw it. */
export type ProductJob = Readonly<{
  name: string;
  id: string;
  url?: string;
  /** The spec revision the job runs. */
  revision: number;
  /** The deployed SQL, normalised: an amendment with the same SQL resumes from the savepoint. */
  sql: string;
  state: ProductJobState;
  failure?: string;
  rejectedRecords: number;
  checkedAt: string;
  /** Where the job was stopped (retire, deprecate, a new revision): a redeploy resumes from it. */
  savepoint?: string;
}>;

/** Restarts tolerated before a restarting job counts as unhealthy (one hiccup is not an outage). */
export const TOLERATED_RESTARTS = 1;

/**
 * Is the product's job healthy, and if not, why: the one rule the workflow applies after each
 * look at the job (provisioning waits with it, the watch timer degrades and recovers with it).
 */
export function jobHealthOf(
  status: ProductJobStatus,
  jobName: string,
  options: Readonly<{ outputTopic?: string }> = {},
): JobHealth {
  const health = flinkHealthOf(status, jobName);
  // A job whose output topic is gone cannot write, and Flink may not say so: its Kafka producer can
  // wait in a flush with Flink showing RUNNING until the checkpoint times out (two minutes, src/creation/job-sql.ts).
  if (options.outputTopic !== undefined && status.outputTopicExists === false && !settledTrouble(health)) {
    const shown = status.failure ? `${status.state}: ${status.failure}` : status.state;
    return {
      healthy: false,
      settled: true,
      reason: `the output topic ${options.outputTopic} is gone, so the Flink job ${jobName} cannot write (Flink shows it ${shown}); redeploy to create the topic again`,
    };
  }
  return health;
}

export type JobHealth = { healthy: true } | { healthy: false; settled: boolean; reason: string };

function settledTrouble(health: JobHealth): boolean {
  return !health.healthy && health.settled;
}

/** The job's health as Flink shows it. */
function flinkHealthOf(status: ProductJobStatus, jobName: string): JobHealth {
  const failure = status.failure ? `: ${status.failure}` : '';
  if (status.waitingForSlot) {
    return {
      healthy: false,
      settled: true,
      reason: `the job waits for a task slot and the cluster has none free; stop a product or raise MESHLOOP_FLINK_TASK_SLOTS, then redeploy`,
    };
  }
  switch (status.state) {
    case 'RUNNING':
      return { healthy: true };
    case 'NOT_FOUND':
      return { healthy: false, settled: true, reason: `no Flink job named ${jobName} exists` };
    case 'FAILED':
    case 'CANCELED':
    case 'FINISHED':
    case 'SUSPENDED':
      return {
        healthy: false,
        settled: true,
        reason: `the Flink job ${jobName} is ${status.state}${failure}`,
      };
    case 'RESTARTING':
    case 'FAILING':
      return status.restarts > TOLERATED_RESTARTS
        ? {
            healthy: false,
            settled: true,
            reason: `the Flink job keeps restarting (${status.restarts} restarts)${failure}`,
          }
        : { healthy: false, settled: false, reason: `the Flink job is ${status.state}${failure}` };
    default:
      // INITIALIZING, CREATED, RECONCILING, CANCELLING: on its way somewhere; look again.
      return { healthy: false, settled: false, reason: `the Flink job is ${status.state}` };
  }
}
