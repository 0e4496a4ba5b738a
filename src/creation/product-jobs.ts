import type { Kafka } from 'kafkajs';
import type { FlinkRestClient, JobSummary, SqlGatewayClient } from '../adapters/flink';
import { terminalJobStates } from '../adapters/flink';
import {
  createTopicsAndAwaitLeaders,
  describeTopic,
  fetchServedTopicOffsets,
} from '../adapters/kafka/topics';
import type {
  DeployResult,
  InputBinding,
  ProductJobState,
  ProductJobStatus,
  StopResult,
} from '../domain/creation';
import { productJobNameOf, rejectedTopicOf } from '../domain/creation';
import { InvalidSpecError } from '../domain/errors';
import { scrubSecrets, secretValuesOf } from '../domain/flink-types';
import type { ProductSpec } from '../domain/spec';
import type { Logger } from '../log';
import type { ValueSchemaLookup } from './avro-sql';
import type { RetainedCheckpoint } from './checkpoints';
import { latestRetainedCheckpoint } from './checkpoints';
import { resolveAvroReaders } from './avro-sql';
import type { FlinkConnectors } from './job-sql';
import {
  guardedSessionProperties,
  inputStatements,
  jobStatementSet,
  productJobConfig,
  sinkStatements,
  transactionalIdPrefixOf,
} from './job-sql';

/**
 * A product's Flink SQL job: deployed, watched and stopped. The job is found by its name (product
 * id and revision), so a retried or replayed deployment finds the job it submitted instead of
 * submitting a second one; if two were submitted at once anyway (a worker killed while the gateway
 * was still planning, then the retry), the newer is cancelled and the oldest is the product's job.
 */

export type ProductJobsDeps = Readonly<{
  gateway: SqlGatewayClient;
  rest: FlinkRestClient;
  kafka: Kafka;
  /** Kafka and the registry as Flink's processes reach them (config.flink): secrets, session-only. */
  connectors: FlinkConnectors;
  /** The registered value schema of a topic, for Avro inputs (valueSchemaLookup). */
  valueSchemas?: ValueSchemaLookup;
  /** The Flink Web UI, for links. */
  flinkUiUrl?: string;
  log?: Logger;
  /** Called during long steps (an activity heartbeats). */
  heartbeat?: (step: string) => void;
}>;

export type ProductJobRef = Readonly<{ productId: string; revision: number; spec: ProductSpec }>;

export type DeployRequest = ProductJobRef &
  Readonly<{
    inputs: readonly InputBinding[];
    /**
     * Resume from this savepoint (an amended spec whose state is compatible). Without one, a
     * revision whose last job failed or was cancelled resumes from that job's last checkpoint.
     */
    savepoint?: string;
    /** Read every input from its beginning, ignoring the committed offsets of earlier runs. */
    fromScratch?: boolean;
  }>;

/** The consumer group of a product's job: shared by its revisions, so a redeploy can continue. */
export const productGroupIdOf = (productId: string) => `meshloop-create.${productId}`;

const isLive = (job: JobSummary) => !terminalJobStates.includes(job.state);
/** Oldest first; equal start times by id, so every caller picks the same job. */
const byAge = (a: JobSummary, b: JobSummary) =>
  a['start-time'] - b['start-time'] || a.jid.localeCompare(b.jid);
/** Tasks that have not got a slot yet. */
const awaitingSlot = new Set(['CREATED', 'SCHEDULED']);
const noMetrics: Record<string, number> = {};
const failingStates: readonly ProductJobState[] = ['FAILING', 'FAILED', 'RESTARTING'];

export class ProductJobs {
  constructor(private readonly deps: ProductJobsDeps) {}

  /** The jobs of this revision: the live ones oldest first, then the ended ones newest first. */
  async jobsOf(ref: Pick<ProductJobRef, 'productId' | 'revision'>): Promise<{
    live: JobSummary[];
    ended: JobSummary[];
  }> {
    const name = productJobNameOf(ref.productId, ref.revision);
    const jobs = (await this.deps.rest.listJobs()).filter((job) => job.name === name);
    return {
      live: jobs.filter(isLive).sort(byAge),
      ended: jobs.filter((job) => !isLive(job)).sort((a, b) => byAge(b, a)),
    };
  }

  async deploy(request: DeployRequest): Promise<DeployResult> {
    const { productId, revision, spec } = request;
    const jobName = productJobNameOf(productId, revision);
    const rejectedTopic = rejectedTopicOf(spec);
    if (!spec.sql) throw new InvalidSpecError(`product ${productId}`, ['sql: the product has no SQL to run']);
    if (request.inputs.length === 0) {
      throw new InvalidSpecError(`product ${productId}`, ['inputs: the product reads nothing']);
    }
    const { readers: avroReaders, problems } = await resolveAvroReaders(
      request.inputs,
      this.deps.valueSchemas,
    );
    if (problems.length > 0) throw new InvalidSpecError(`product ${productId}`, problems);
    await this.ensureRejectedTopic(spec);

    const { live, ended } = await this.jobsOf(request);
    const existing = live[0];
    if (existing) {
      this.deps.log?.info('product job already running', { productId, jobId: existing.jid, jobName });
      return { jobId: existing.jid, jobName, url: this.jobUrl(existing.jid), started: false, rejectedTopic };
    }

    // A redeploy of a failed or cancelled job resumes from its last checkpoint (retained on both),
    // unless told where or to start over. A job stopped with a savepoint FINISHED: it is passed in.
    const last = ended[0];
    const resumable = last && (last.state === 'FAILED' || last.state === 'CANCELED');
    const savepoint =
      request.savepoint ??
      (request.fromScratch || !resumable
        ? undefined
        : await this.deps.rest.latestCheckpointPath(last.jid).catch(() => undefined));
    // Unique per deployment: the submission's time (a retried submission gets its own).
    const transactionalIdPrefix = transactionalIdPrefixOf(productId, revision, Date.now().toString(36));
    const session = await this.deps.gateway.openSession({
      name: jobName,
      properties: guardedSessionProperties,
      heartbeatIntervalMs: false,
    });
    let jobId: string;
    try {
      // Without a savepoint the job continues from its group's committed offsets (a redeploy after
      // a failure); a new product has none, and reads from the earliest offset.
      const startFrom = request.fromScratch ? 'earliest' : 'group-offsets';
      const options = {
        connectors: this.deps.connectors,
        groupId: productGroupIdOf(productId),
        startFrom,
        avroReaders,
      } as const;
      for (const input of request.inputs) {
        for (const statement of inputStatements(input, options)) await session.configure(statement);
      }
      for (const statement of sinkStatements(spec, {
        connectors: this.deps.connectors,
        rejectedTopic,
        transactionalIdPrefix,
      })) {
        await session.configure(statement);
      }
      const config: Record<string, string> = { ...productJobConfig(jobName) };
      if (savepoint) {
        config['execution.savepoint.path'] = savepoint;
        // A revision may drop an operator (the rejected-records insert of a removed input).
        config['execution.savepoint.ignore-unclaimed-state'] = 'true';
      }
      this.deps.heartbeat?.('submitting the job');
      const result = await session.execute(jobStatementSet(spec, request.inputs, spec.sql, avroReaders), {
        executionConfig: config,
        timeoutMs: 120_000,
      });
      if (!result.jobId) throw new Error(`Flink started no job for ${jobName}`);
      jobId = result.jobId;
    } finally {
      await session.close().catch(() => undefined);
    }
    this.deps.log?.info('product job submitted', {
      productId,
      revision,
      jobId,
      jobName,
      savepoint,
      fromScratch: request.fromScratch ?? false,
    });

    const survivor = await this.keepOldestLiveJob(request);
    if (survivor && survivor !== jobId) {
      return { jobId: survivor, jobName, url: this.jobUrl(survivor), started: false, rejectedTopic };
    }
    return {
      jobId,
      jobName,
      url: this.jobUrl(jobId),
      started: true,
      rejectedTopic,
      ...(savepoint ? { fromSavepoint: savepoint } : {}),
    };
  }

  /**
   * Two deployments of one revision raced (each saw no job, each submitted): keep the oldest, cancel
   * the others. Every racer that looks after submitting agrees on the oldest. Returns its id.
   */
  async keepOldestLiveJob(ref: Pick<ProductJobRef, 'productId' | 'revision'>): Promise<string | undefined> {
    const { live } = await this.jobsOf(ref);
    const [oldest, ...extra] = live;
    for (const job of extra) {
      this.deps.log?.warn('second job of a product revision cancelled', {
        productId: ref.productId,
        revision: ref.revision,
        kept: oldest?.jid,
        cancelled: job.jid,
      });
      await this.deps.rest.cancelJob(job.jid);
    }
    return oldest?.jid;
  }

  async describe(ref: ProductJobRef): Promise<ProductJobStatus> {
    const [{ live, ended }, { rejectedRecords, outputTopicExists }] = await Promise.all([
      this.jobsOf(ref),
      this.topicsOf(ref.spec),
    ]);
    const job = live[0] ?? ended[0];
    if (!job)
      return { state: 'NOT_FOUND', waitingForSlot: false, restarts: 0, rejectedRecords, outputTopicExists };
    // A second live job (a submission that landed after its retry had finished) is cancelled here.
    if (live.length > 1) await this.keepOldestLiveJob(ref);

    const [detail, exceptions, metrics] = await Promise.all([
      isLive(job) ? this.deps.rest.job(job.jid).catch(() => undefined) : undefined,
      this.deps.rest.exceptions(job.jid).catch(() => undefined),
      isLive(job) ? this.deps.rest.jobMetrics(job.jid, ['numRestarts']).catch(() => noMetrics) : noMetrics,
    ]);
    const history = exceptions?.exceptionHistory?.entries ?? [];
    const newestTrace = exceptions?.['root-exception'] ?? history[0]?.stacktrace;
    // An ended job has no metrics: every failure in its history but the final one caused a restart
    // (the final entry, Flink's "recovery is suppressed", may not be recorded yet).
    const final = history.filter((entry) =>
      /Recovery is suppressed/.test(entry.stacktrace.split('\n')[0] ?? ''),
    );
    const restarts = metrics.numRestarts ?? Math.max(0, history.length - final.length);

    // Tasks without a slot: a standalone cluster refuses a slot request it cannot fill at once
    // (NoResourceAvailableException), so the job restarts and fails within seconds; while
    // restarting, or before the refusal, its tasks wait with every slot taken.
    const pendingTasks = (detail?.vertices ?? []).some((vertex) => awaitingSlot.has(vertex.status));
    const notRunning = pendingTasks || failingStates.includes(job.state);
    const refusedSlot = /NoResourceAvailableException/.test(newestTrace ?? '');
    let waitingForSlot = notRunning && refusedSlot;
    if (!waitingForSlot && pendingTasks) {
      const overview = await this.deps.rest.overview().catch(() => undefined);
      waitingForSlot = overview?.['slots-available'] === 0;
    }
    const noSlot = 'no free task slot in the Flink cluster (every slot is taken by other jobs)';
    const failure = waitingForSlot
      ? refusedSlot
        ? `${noSlot}: ${failureSummary(newestTrace)}`
        : noSlot
      : failingStates.includes(job.state)
        ? failureSummary(newestTrace)
        : undefined;
    return {
      state: job.state,
      jobId: job.jid,
      // Flink's words go into the product's state: no secret of the job's options with them.
      ...(failure ? { failure: scrubSecrets(failure, secretValuesOf(this.deps.connectors)) } : {}),
      waitingForSlot,
      restarts,
      rejectedRecords,
      outputTopicExists,
    };
  }

  /** The newest retained checkpoint of these jobs (newest job first), from Flink or from disk. */
  latestRetainedCheckpoint(jobIds: readonly string[]): Promise<RetainedCheckpoint | undefined> {
    return latestRetainedCheckpoint({ rest: this.deps.rest, log: this.deps.log }, jobIds);
  }

  async stop(ref: ProductJobRef & Readonly<{ drain?: boolean }>): Promise<StopResult> {
    const { live } = await this.jobsOf(ref);
    const [job, ...extra] = live;
    if (!job) return { stopped: false };
    for (const other of extra) await this.deps.rest.cancelJob(other.jid);
    this.deps.heartbeat?.('stopping the job');
    const detail = await this.deps.rest.job(job.jid).catch(() => undefined);
    const allRunning = detail?.state === 'RUNNING' && detail.vertices.every((v) => v.status === 'RUNNING');
    if (allRunning) {
      try {
        const { location } = await this.deps.rest.stopWithSavepoint(job.jid, { drain: ref.drain ?? false });
        this.deps.log?.info('product job stopped with a savepoint', {
          productId: ref.productId,
          jobId: job.jid,
          savepoint: location,
        });
        return { stopped: true, savepoint: location };
      } catch (error) {
        // The job failed or restarted meanwhile: nothing consistent to keep; cancel it below.
        this.deps.log?.warn('stop with savepoint failed; cancelling', { productId: ref.productId, error });
      }
    }
    await this.deps.rest.cancelJob(job.jid);
    await this.deps.rest.waitForJobState(job.jid, ['CANCELED'], { timeoutMs: 60_000 });
    this.deps.log?.info('product job cancelled', { productId: ref.productId, jobId: job.jid });
    return { stopped: true };
  }

  /** Input records the job could not read: everything ever written to the rejected topic. */
  async rejectedRecords(spec: ProductSpec): Promise<number> {
    return (await this.topicsOf(spec)).rejectedRecords;
  }

  /** The rejected count, and whether the output topic still exists (a deleted one is the product's fault). */
  private async topicsOf(
    spec: ProductSpec,
  ): Promise<{ rejectedRecords: number; outputTopicExists: boolean }> {
    const admin = this.deps.kafka.admin();
    await admin.connect();
    try {
      const topic = rejectedTopicOf(spec);
      const topics = await admin.listTopics();
      const outputTopicExists = topics.includes(spec.outputTopic.name ?? '');
      if (!topics.includes(topic)) return { rejectedRecords: 0, outputTopicExists };
      const offsets = await fetchServedTopicOffsets(admin, topic);
      const rejectedRecords = offsets.reduce((sum, partition) => sum + Number(partition.high), 0);
      return { rejectedRecords, outputTopicExists };
    } finally {
      await admin.disconnect();
    }
  }

  /** Like the output topic (partitions, retention), always `delete`: rejected records have no key. */
  private async ensureRejectedTopic(spec: ProductSpec): Promise<void> {
    const admin = this.deps.kafka.admin();
    await admin.connect();
    try {
      const name = rejectedTopicOf(spec);
      if (await describeTopic(admin, name)) return;
      await createTopicsAndAwaitLeaders(admin, [
        {
          topic: name,
          numPartitions: spec.outputTopic.partitions,
          replicationFactor: 1,
          configEntries: [
            { name: 'retention.ms', value: String(spec.outputTopic.retentionMs) },
            { name: 'cleanup.policy', value: 'delete' },
          ],
        },
      ]);
    } finally {
      await admin.disconnect();
    }
  }

  jobUrl(jobId: string): string | undefined {
    return this.deps.flinkUiUrl
      ? `${this.deps.flinkUiUrl.replace(/\/+$/, '')}/#/job/running/${jobId}/overview`
      : undefined;
  }
}

/**
 * Flink's root exception in one line: its own message and, when deeper, the innermost cause (the
 * one that names the topic or the record). Flink's "recovery is suppressed" wrapper says only that
 * the restarts ran out, so it is skipped.
 */
export function failureSummary(trace: string | undefined): string | undefined {
  if (!trace) return undefined;
  const chain = trace
    .split('\n')
    .map((line) => line.trim())
    .filter((line, i) => i === 0 || line.startsWith('Caused by: '))
    .map((line) =>
      line
        .replace(/^Caused by: /, '')
        .replace(
          /^((java\.util\.concurrent\.(CompletionException|ExecutionException)|org\.apache\.flink\.util\.SerializedThrowable): )+/,
          '',
        ),
    )
    .filter((line) => !/JobException: Recovery is suppressed/.test(line));
  const first = chain[0];
  const last = chain[chain.length - 1];
  const summary = first === last || !last ? (first ?? trace.split('\n')[0]) : `${first} (cause: ${last})`;
  return summary?.slice(0, 1000);
}
