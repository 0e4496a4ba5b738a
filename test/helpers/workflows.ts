import { randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import assert from 'node:assert/strict';
import type { WorkflowHandle, WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { Client, Connection, WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { bundleWorkflowCode, NativeConnection, Worker } from '@temporalio/worker';
import type { MeshloopActivities } from '../../activities';
import type { AnalysisCycleActivities } from '../../activities/analysis-cycle';
import type { DiscoveryActivities } from '../../activities/discovery';
import type { CycleOutcome, ScheduleState } from '../../src/domain/analysis';
import { productMetricsSinks } from '../../src/metrics/worker';
import { parseDuration } from '../../src/domain/duration';
import { materializationJobName, writeModeOf } from '../../src/domain/materialization';
import type { MaterializationStatus } from '../../src/materialize/types';
import type { ProductJobStatus } from '../../src/domain/creation';
import { productJobNameOf, rejectedTopicOf } from '../../src/domain/creation';
import type { MeshloopConfig } from '../../src/config';
import type { ApprovalSigning } from '../../src/domain/approval-signing';
import { waitUntil } from '../../src/stack/probe';
import type { dataProductWorkflow } from '../../workflows/data-product';
import type { DataProductInput, ProductStatus } from '../../workflows/definitions';
import { getStatusQuery } from '../../workflows/definitions';
import type { ProductSpecInput } from '../../src/domain/spec';
import { testPlatform } from './platform';
import { rawSpec } from './specs';
import { temporalConnectOptions } from '../../src/config';

/** The activities a product's workflow calls: all but discovery's and the analysis cycle's own steps. */
type Activities = Omit<
  MeshloopActivities,
  keyof DiscoveryActivities | Exclude<keyof AnalysisCycleActivities, 'readStoredAnalysisCycle'>
>;
type ActivityName = keyof Activities;

/**
 * Activities faked for workflow tests: each records its calls; tests script failures and the
 * catalog's answer. The real ones run in test/integration.
 */
export class FakeActivities {
  readonly calls: { name: ActivityName; input: unknown }[] = [];
  /** Errors `createKafkaTopic` throws, one per call, before it starts succeeding. */
  topicFailures: Error[] = [];
  dependants: string[] = [];
  /** What `readMeshGovernance` answers: mesh.yaml as the test wants it, changeable mid-test. */
  mesh: MeshSettings = { ...defaultMesh };
  /** Errors `publishCatalogDescriptor` throws, one per call, before it starts succeeding. */
  publishFailures: Error[] = [];
  /**
   * What the Schema Registry answers when a revision's output schema is tested: `refuse` gives the
   * reasons it refuses a revision with, by revision (none: it takes it).
   */
  schemaRefusals = new Map<number, string[]>();
  /** Errors `checkOutputSchemaCompatibility` throws, one per call, before it answers. */
  schemaCheckFailures: Error[] = [];
  /** Errors `registerOutputSchema` throws, one per call, before it starts succeeding. */
  schemaRegistrationFailures: Error[] = [];
  /** The versions registered so far, by subject (registering the same revision again finds it). */
  readonly schemaVersions = new Map<string, number[]>();
  /** What the SQL guard answers (no problems: it passes). */
  sqlProblems: string[] = [];
  /** What the critic answers (`propose` by default), and the reasons it gives. */
  criticVerdict: 'propose' | 'dismiss' = 'propose';
  criticReasons: string[] = [];
  /** Errors `critiqueProposal` throws, one per call, before it answers. */
  criticFailures: Error[] = [];
  /** What `describeProductJob` answers, one per call; when empty, `jobStatus`. */
  jobStatuses: Partial<ProductJobStatus>[] = [];
  jobStatus: Partial<ProductJobStatus> = { state: 'RUNNING' };
  /** False when the job to stop has failed: it is cancelled, with no savepoint. */
  stopsWithSavepoint = true;
  /** The retained checkpoint a redeploy without a savepoint resumes from (as Flink keeps one of a failed job). */
  lastCheckpoint: string | undefined;
  /** Called on each deployment with its number (1: the first), e.g. to let the platform come back. */
  onDeploy: ((deployment: number) => void) | undefined;
  /** The checkpoints kept on disk, by job id (what `latestRetainedCheckpoint` finds). */
  readonly retainedCheckpoints = new Map<string, string>();
  /** What `describeIcebergTable` answers, one per call; when empty, `tableStatus`. */
  tableStatuses: Partial<MaterializationStatus>[] = [];
  tableStatus: Partial<MaterializationStatus> = { state: 'RUNNING' };
  /** Errors `startMaterialization` throws, one per call, before it starts succeeding. */
  materializationFailures: Error[] = [];
  /** Real activities that replace the fakes of the same name (e.g. Tableflow against a fake Confluent API). */
  replaced: Partial<Activities> = {};
  private jobs = 0;
  /** The Slack activity to delegate to (e.g. the real one against a fake Slack API); skipped otherwise. */
  slack?: Activities['syncSlackProposalMessage'];
  private tables = new Set<string>();
  private materializations = 0;
  /** The analysis schedules as a Temporal server would hold them, by product id. */
  readonly schedules = new Map<string, { paused: boolean; note?: string; everyMs: number }>();
  /** What the analysis results table holds, by cycle key (a cycle stores it before it signals). */
  readonly storedCycles = new Map<string, CycleOutcome>();

  scheduleOf(productId: string): ScheduleState {
    const schedule = this.schedules.get(productId);
    return schedule ? { exists: true, note: schedule.note, ...schedule } : { exists: false };
  }

  callsOf<N extends ActivityName>(name: N): Parameters<Activities[N]>[0][] {
    return this.calls
      .filter((call) => call.name === name)
      .map((call) => call.input as Parameters<Activities[N]>[0]);
  }

  publishedStages(): string[] {
    return this.callsOf('publishCatalogDescriptor').map((input) => input.descriptor.stage);
  }

  activities(): Activities {
    return { ...this.fakeActivities(), ...this.replaced };
  }

  private fakeActivities(): Activities {
    const record = (name: ActivityName, input: unknown) => this.calls.push({ name, input });
    return {
      createKafkaTopic: (input) => {
        record('createKafkaTopic', input);
        const failure = this.topicFailures.shift();
        if (failure) return Promise.reject(failure);
        return Promise.resolve({
          topic: input.topic.name,
          created: this.callsOf('createKafkaTopic').length === 1,
        });
      },
      publishCatalogDescriptor: (input) => {
        record('publishCatalogDescriptor', input);
        const failure = this.publishFailures.shift();
        if (failure) return Promise.reject(failure);
        return Promise.resolve();
      },
      readMeshGovernance: (input) => {
        record('readMeshGovernance', input);
        const known = this.mesh.knownDomains.includes(input.domain);
        return Promise.resolve({
          domain: input.domain,
          known,
          approvers: known ? [...this.mesh.approvers] : [],
          operators: [...this.mesh.operators],
          requiredApprovals: this.mesh.requiredApprovals,
          approvalDeadlineMs: this.mesh.approvalDeadlineMs,
          reminderIntervalMs: this.mesh.reminderIntervalMs,
          jobWatchIntervalMs: this.mesh.jobWatchIntervalMs,
          knownDomains: [...this.mesh.knownDomains],
          approvalSigning: this.mesh.approvalSigning,
          ...(this.mesh.slackChannel ? { slackChannel: this.mesh.slackChannel } : {}),
          slackUsers: { ...this.mesh.slackUsers },
        });
      },
      findActiveDependants: (input) => {
        record('findActiveDependants', input);
        return Promise.resolve([...this.dependants]);
      },
      syncSlackProposalMessage: (input) => {
        record('syncSlackProposalMessage', input);
        return this.slack ? this.slack(input) : Promise.resolve({ skipped: true as const });
      },
      sendApprovalReminder: (input) => {
        record('sendApprovalReminder', input);
        return Promise.resolve();
      },
      checkOutputSchemaCompatibility: (input) => {
        record('checkOutputSchemaCompatibility', input);
        const failure = this.schemaCheckFailures.shift();
        if (failure) return Promise.reject(failure);
        const subject = `${input.spec.outputTopic.name}-value`;
        const reasons = this.schemaRefusals.get(input.revision);
        const versions = this.schemaVersions.get(subject) ?? [];
        return Promise.resolve(
          reasons
            ? { compatible: false, subject, compatibility: 'BACKWARD', against: versions.length, reasons }
            : { compatible: true, subject, ...(versions.length > 0 ? { against: versions.length } : {}) },
        );
      },
      registerOutputSchema: (input) => {
        record('registerOutputSchema', input);
        const failure = this.schemaRegistrationFailures.shift();
        if (failure) return Promise.reject(failure);
        const subject = `${input.spec.outputTopic.name}-value`;
        const versions = this.schemaVersions.get(subject) ?? [];
        const registered = !versions.includes(input.revision);
        if (registered) this.schemaVersions.set(subject, [...versions, input.revision]);
        const version = (this.schemaVersions.get(subject) ?? []).indexOf(input.revision) + 1;
        return Promise.resolve({
          subject,
          id: 100 + version,
          version,
          compatibility: 'BACKWARD',
          revision: input.revision,
          registered,
        });
      },
      previewProposal: (input) => {
        record('previewProposal', input);
        const columns = input.spec.schema.fields.map((f) => f.name);
        return Promise.resolve({
          outcome: 'rows' as const,
          columns,
          rows: [columns.map((c) => `${c}-1`)],
          rowCount: 1,
          capped: false,
          sampled: [{ input: 'in', topic: 'in', records: 10 }],
          tookMs: 5,
          at: new Date().toISOString(),
        });
      },
      critiqueProposal: (input) => {
        record('critiqueProposal', input);
        const failure = this.criticFailures.shift();
        if (failure) return Promise.reject(failure);
        return Promise.resolve({
          verdict: this.criticVerdict,
          by: 'rules' as const,
          reasons: [...this.criticReasons],
          cost: {
            inputs: [],
            outputRecordsPerSecond: 1,
            stateKeys: 0,
            stateBytes: 0,
            icebergBytesPerDay: 1000,
            flinkSlots: 2,
            basis: [],
          },
          redundancy: [],
          value: { how: 'the domain states no business goals in mesh.yaml: value not judged' },
          risk: { personalFields: [], notes: [] },
          inputsFingerprint: 'fake',
          at: new Date().toISOString(),
        });
      },
      checkProductSql: (input) => {
        record('checkProductSql', input);
        const problems = [...this.sqlProblems];
        return Promise.resolve({
          ok: problems.length === 0,
          problems,
          columns: [],
          lineage:
            problems.length === 0
              ? input.spec.schema.fields.map((f) => ({
                  column: f.name,
                  from: [{ input: 'in', field: f.name }],
                }))
              : [],
        });
      },
      deployProductJob: (input) => {
        record('deployProductJob', input);
        this.jobs += 1;
        this.onDeploy?.(this.jobs);
        return Promise.resolve({
          jobId: `job-${this.jobs}`,
          jobName: productJobNameOf(input.productId, input.revision),
          started: true,
          rejectedTopic: rejectedTopicOf(input.spec),
          ...(input.savepoint || (this.lastCheckpoint && !input.fromScratch)
            ? { fromSavepoint: input.savepoint ?? this.lastCheckpoint }
            : {}),
        });
      },
      describeProductJob: (input) => {
        record('describeProductJob', input);
        const scripted = this.jobStatuses.shift() ?? this.jobStatus;
        return Promise.resolve({
          state: 'RUNNING',
          jobId: `job-${this.jobs}`,
          waitingForSlot: false,
          restarts: 0,
          rejectedRecords: 0,
          ...scripted,
        });
      },
      createIcebergTable: (input) => {
        record('createIcebergTable', input);
        const table = `lake.${input.spec.domain}.${input.spec.name}`;
        const created = !this.tables.has(table);
        this.tables.add(table);
        const earlier = this.callsOf('createIcebergTable').at(-2)?.spec.schema.fields ?? [];
        return Promise.resolve({
          provider: input.spec.materialization?.provider ?? 'flink',
          table,
          tableUuid: `uuid-${input.spec.name}`,
          created,
          // As ensureTable: the revision's fields the table did not have yet.
          addedColumns: created
            ? []
            : input.spec.schema.fields
                .filter((field) => !earlier.some((old) => old.name === field.name))
                .map((field) => field.name),
          writeMode: writeModeOf(input.spec),
        });
      },
      startMaterialization: (input) => {
        record('startMaterialization', input);
        const failure = this.materializationFailures.shift();
        if (failure) return Promise.reject(failure);
        this.materializations += 1;
        return Promise.resolve({
          provider: input.spec.materialization?.provider ?? 'flink',
          id: `materialize-${this.materializations}`,
          name: materializationJobName(input.productId, input.revision),
          started: true,
        });
      },
      stopMaterialization: (input) => {
        record('stopMaterialization', input);
        return Promise.resolve({
          stopped: true,
          savepoint: `file:///savepoints/${input.productId}-materialize-r${input.revision}`,
        });
      },
      describeIcebergTable: (input) => {
        record('describeIcebergTable', input);
        const scripted = this.tableStatuses.shift() ?? this.tableStatus;
        return Promise.resolve({
          provider: 'flink' as const,
          state: 'RUNNING',
          jobId: `materialize-${this.materializations}`,
          badRecords: 0,
          table: {
            table: `lake.${input.spec.domain}.${input.spec.name}`,
            provider: 'flink' as const,
            snapshots: 0,
          },
          ...scripted,
        });
      },
      ensureTemporalAnalysisSchedule: (input) => {
        record('ensureTemporalAnalysisSchedule', input);
        const everyMs = parseDuration(input.every ?? '1h') ?? 3_600_000;
        const existing = this.schedules.get(input.productId);
        this.schedules.set(input.productId, { paused: existing?.paused ?? false, everyMs });
        return Promise.resolve({ scheduleId: `analysis:${input.productId}`, created: !existing, everyMs });
      },
      pauseTemporalAnalysisSchedule: (input) => {
        record('pauseTemporalAnalysisSchedule', input);
        const existing = this.schedules.get(input.productId);
        if (existing) this.schedules.set(input.productId, { ...existing, paused: true, note: input.note });
        return Promise.resolve(existing !== undefined);
      },
      resumeTemporalAnalysisSchedule: (input) => {
        record('resumeTemporalAnalysisSchedule', input);
        const existing = this.schedules.get(input.productId);
        if (existing) this.schedules.set(input.productId, { ...existing, paused: false, note: input.note });
        return Promise.resolve(existing !== undefined);
      },
      triggerTemporalAnalysisSchedule: (input) => {
        record('triggerTemporalAnalysisSchedule', input);
        const schedule = this.schedules.get(input.productId);
        return Promise.resolve(schedule !== undefined && !schedule.paused);
      },
      deleteTemporalAnalysisSchedule: (input) => {
        record('deleteTemporalAnalysisSchedule', input);
        return Promise.resolve(this.schedules.delete(input.productId));
      },
      readStoredAnalysisCycle: (input) => {
        record('readStoredAnalysisCycle', input);
        const stored = this.storedCycles.get(input.cycleKey);
        return Promise.resolve(stored?.productId === input.productId ? stored : null);
      },
      describeTemporalAnalysisSchedule: (input) => {
        record('describeTemporalAnalysisSchedule', input);
        return Promise.resolve(this.scheduleOf(input.productId));
      },
      latestRetainedCheckpoint: (input) => {
        record('latestRetainedCheckpoint', input);
        const jobId = input.jobIds.find((id) => this.retainedCheckpoints.has(id));
        return Promise.resolve(
          jobId ? { path: this.retainedCheckpoints.get(jobId)!, jobId, found: 'disk' as const } : undefined,
        );
      },
      stopProductJob: (input) => {
        record('stopProductJob', input);
        // Like Flink: only a running job stops with a savepoint; a failed one is just cancelled.
        if (!this.stopsWithSavepoint) return Promise.resolve({ stopped: true });
        return Promise.resolve({
          stopped: true,
          savepoint: `file:///savepoints/${input.productId}-r${input.revision}`,
        });
      },
    };
  }
}

export type WorkflowTestContext = Readonly<{
  config: MeshloopConfig;
  client: Client;
  bundle: WorkflowBundleWithSourceMap;
}>;

const quietBundler = {
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  log: () => undefined,
  warn: () => undefined,
  error: (message: string) => process.stderr.write(`bundler: ${message}\n`),
};

let bundled: Promise<WorkflowBundleWithSourceMap> | undefined;

/** The workflows bundled once per test run: every suite runs the same code. */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundled ??= bundleWorkflowCode({ workflowsPath: require.resolve('../../workflows'), logger: quietBundler });
  return bundled;
}

/** What a workflow suite's `before` opens: the test platform, a client and the bundle; `close` in `after`. */
export async function openWorkflowTestContext(): Promise<
  WorkflowTestContext & { close: () => Promise<void> }
> {
  const config = await testPlatform();
  const connection = await Connection.connect(temporalConnectOptions(config.temporal.connection));
  const client = new Client({ connection, namespace: config.temporal.namespace });
  return { config, client, bundle: await workflowBundle(), close: () => connection.close() };
}

/** The update was refused (validator or handler); returns the failure's type and message. */
export async function refusal(
  promise: Promise<unknown>,
): Promise<{ type: string | undefined; message: string }> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof WorkflowUpdateFailedError, `expected a refused update, got ${String(error)}`);
    assert.ok(error.cause instanceof ApplicationFailure, 'expected an ApplicationFailure cause');
    return { type: error.cause.type ?? undefined, message: error.cause.message };
  }
  assert.fail('the update was accepted');
}

/** A unique product per test: its own name, owner (for visibility queries) and task queue. */
export function uniqueProduct(overrides: Record<string, unknown> = {}) {
  const suffix = randomUUID().replace(/-/g, '').slice(0, 10);
  return rawSpec({ name: `p_${suffix}`, owner: `owner-${suffix}`, ...overrides });
}

export function productInput(
  spec: ProductSpecInput,
  overrides: Partial<DataProductInput> = {},
): DataProductInput {
  return { spec, ...overrides };
}

/** The parts of mesh.yaml a product's workflow reads (through `readMeshGovernance`). */
export type MeshSettings = {
  approvers: string[];
  operators: string[];
  requiredApprovals: number;
  approvalDeadlineMs: number;
  reminderIntervalMs: number;
  jobWatchIntervalMs: number;
  knownDomains: string[];
  approvalSigning: ApprovalSigning;
  slackChannel?: string;
  slackUsers: Record<string, string>;
};

export const defaultMesh: Readonly<MeshSettings> = {
  approvers: ['alice', 'bob'],
  operators: ['ops'],
  requiredApprovals: 1,
  approvalDeadlineMs: 5 * 60_000,
  reminderIntervalMs: 60_000,
  jobWatchIntervalMs: 60_000,
  knownDomains: ['orders', 'payments'],
  approvalSigning: { mode: 'off', keys: [] },
  slackUsers: {},
};

/** Fake activities whose mesh.yaml says `mesh` (the rest as `defaultMesh`). */
export function fakesWith(mesh: Partial<MeshSettings> = {}): FakeActivities {
  const fakes = new FakeActivities();
  fakes.mesh = { ...defaultMesh, ...mesh };
  return fakes;
}

/**
 * Run `body` against a fresh worker on its own task queue; workflows it started and left running
 * are terminated afterwards so the server holds no stray products.
 */
export async function withWorker<T>(
  context: WorkflowTestContext,
  fakes: FakeActivities,
  body: (run: {
    taskQueue: string;
    start: (
      input: DataProductInput,
    ) => Promise<WorkflowHandleWithFirstExecutionRunId<typeof dataProductWorkflow>>;
  }) => Promise<T>,
): Promise<T> {
  const taskQueue = `product-test-${randomUUID()}`;
  const connection = await NativeConnection.connect(
    temporalConnectOptions(context.config.temporal.connection),
  );
  const worker = await Worker.create({
    connection,
    namespace: context.config.temporal.namespace,
    taskQueue,
    workflowBundle: context.bundle,
    activities: fakes.activities(),
    // Product workflows report metric updates; these tests do not count them.
    sinks: productMetricsSinks(undefined),
  });
  const started: WorkflowHandleWithFirstExecutionRunId<typeof dataProductWorkflow>[] = [];
  const start = async (input: DataProductInput) => {
    const { name, domain } = input.spec;
    const handle = await context.client.workflow.start<typeof dataProductWorkflow>('dataProductWorkflow', {
      taskQueue,
      workflowId: `data-product:${domain}.${name}`,
      args: [input],
    });
    started.push(handle);
    return handle;
  };
  try {
    return await worker.runUntil(body({ taskQueue, start }));
  } finally {
    for (const handle of started) {
      await handle.terminate('test finished').catch(() => undefined); // already closed is fine
    }
    await connection.close();
  }
}

/** Poll the product's status until `ready` holds; fails with the last status after the deadline. */
export async function waitForStatus(
  handle: WorkflowHandle<typeof dataProductWorkflow>,
  ready: (status: ProductStatus) => boolean,
  timeoutMs = 20_000,
): Promise<ProductStatus> {
  let last: ProductStatus | undefined;
  const outcome = await waitUntil(
    async () => {
      last = await handle.query(getStatusQuery).catch(() => undefined);
      return last !== undefined && ready(last);
    },
    { timeoutMs, intervalMs: 100 },
  );
  if (outcome !== 'ready') {
    throw new Error(`status not reached in ${timeoutMs} ms; last: ${JSON.stringify(last && summary(last))}`);
  }
  return last!;
}

export const stageIs = (stage: ProductStatus['stage']) => (status: ProductStatus) => status.stage === stage;

function summary(status: ProductStatus) {
  return {
    stage: status.stage,
    decisions: status.decisions,
    ignored: status.ignored,
    lastError: status.lastError,
  };
}

export const historiesDir = path.join(__dirname, '..', 'fixtures', 'histories');

/**
 * With MESHLOOP_RECORD_HISTORIES=1, save the workflow's history for the replay tests: a change
 * that breaks determinism then fails test/replay instead of running products.
 */
export async function recordHistory(handle: WorkflowHandle, name: string): Promise<void> {
  if (process.env.MESHLOOP_RECORD_HISTORIES !== '1') return;
  const history = await handle.fetchHistory();
  await mkdir(historiesDir, { recursive: true });
  await writeFile(path.join(historiesDir, `${name}.json`), historyToJSON(history) + '\n');
}

/**
 * A product's status once its proposal checks ran (policies and the SQL guard, which asks Flink):
 * the first status past `proposed`, or the last one seen at the deadline.
 */
export async function statusAfterChecks(
  client: Client,
  productId: string,
  timeoutMs = 120_000,
): Promise<ProductStatus> {
  const handle = client.workflow.getHandle<typeof dataProductWorkflow>(`data-product:${productId}`);
  let status = await handle.query(getStatusQuery);
  await waitUntil(
    async () => {
      status = await handle.query(getStatusQuery);
      return status.stage !== 'proposed';
    },
    { timeoutMs, intervalMs: 200 },
  );
  return status;
}
