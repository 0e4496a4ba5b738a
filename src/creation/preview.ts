import type { Kafka } from 'kafkajs';
import { FlinkRequestError, FlinkStatementError } from '../adapters/flink/errors';
import type { SqlGatewayClient, SqlGatewaySession } from '../adapters/flink/sql-gateway';
import { planPartitionStarts } from '../adapters/kafka/sampler';
import { fetchServedTopicOffsets } from '../adapters/kafka/topics';
import type { InputBinding } from '../domain/creation';
import type { ProposalPreview } from '../domain/critique';
import { boundedPreview, MAX_PREVIEW_ROWS } from '../domain/critique';
import { quoteIdentifier as q } from '../domain/flink-types';
import type { ProductSpec } from '../domain/spec';
import type { Logger } from '../log';
import type { ValueSchemaLookup } from './avro-sql';
import { resolveAvroReaders } from './avro-sql';
import type { FlinkConnectors, InputSqlOptions } from './job-sql';
import { approvedSelect, guardedSessionProperties, inputStatements } from './job-sql';

/**
 * The preview: a proposal's SQL, as approved, run once in Flink over a bounded sample of its
 * inputs (the newest records of each topic, from fixed offsets to fixed offsets),
 * before any approver is asked. The inputs are declared by the very statements the job runs, only
 * the Kafka scan is bounded; what comes back (the first rows, how many, how long) is stored with
 * the proposal. A preview that fails is a finding, not an error: only an unreachable Kafka or
 * gateway throws (the activity retries).
 */

export type PreviewDependencies = Readonly<{
  kafka: Kafka;
  gateway: SqlGatewayClient;
  connectors: FlinkConnectors;
  valueSchemas?: ValueSchemaLookup;
  log?: Logger;
}>;

export type PreviewLimits = Readonly<{
  /** Newest records read per input (spread over its partitions). */
  recordsPerInput: number;
  /** Output rows counted before the preview stops (the count is then a lower bound). */
  rowCap: number;
  timeoutMs: number;
}>;

export const defaultPreviewLimits: PreviewLimits = {
  recordsPerInput: 5000,
  rowCap: 10_000,
  timeoutMs: 120_000,
};

type Bounds = { start: Map<number, string>; end: Map<number, string>; records: number };

/** The newest `records` of a topic: start and end offsets per partition, fixed now. */
export async function sampleBounds(kafka: Kafka, topic: string, records: number): Promise<Bounds> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const ranges = (await fetchServedTopicOffsets(admin, topic)).map((p) => ({
      partition: p.partition,
      low: BigInt(p.low),
      high: BigInt(p.high),
    }));
    const starts = planPartitionStarts(ranges, records);
    const start = new Map<number, string>();
    const end = new Map<number, string>();
    let count = 0;
    for (const range of ranges) {
      const from = starts.get(range.partition) ?? range.high;
      start.set(range.partition, from.toString());
      end.set(range.partition, range.high.toString());
      count += Number(range.high - from);
    }
    return { start, end, records: count };
  } finally {
    await admin.disconnect();
  }
}

const cellOf = (value: unknown): string | null =>
  value === null || value === undefined ? null : typeof value === 'string' ? value : JSON.stringify(value);

function failedPreview(
  problem: string,
  sampled: ProposalPreview['sampled'],
  began: number,
  at: string,
): ProposalPreview {
  return boundedPreview({
    outcome: 'failed',
    columns: [],
    rows: [],
    rowCount: 0,
    capped: false,
    sampled,
    tookMs: Date.now() - began,
    failure: problem,
    at,
  });
}

/**
 * The rows the query ends with, and how many (up to `rowCap`): the changelog applied, so an
 * updating query (a join without an interval, an aggregate without a window) counts its final rows.
 */
async function collectRows(
  session: SqlGatewaySession,
  handle: string,
  statement: string,
  deadline: number,
  rowCap: number,
): Promise<Pick<ProposalPreview, 'columns' | 'rows' | 'rowCount' | 'capped'>> {
  const live = new Map<string, { row: (string | null)[]; count: number }>();
  let columns: string[] = [];
  let rowCount = 0;
  let capped = false;
  for await (const page of session.results(handle, statement, deadline)) {
    columns = page.columns.map((c) => c.name);
    for (const raw of page.rows) {
      const row = raw.fields.map(cellOf);
      const key = JSON.stringify(row);
      const entry = live.get(key);
      if (raw.kind === 'UPDATE_BEFORE' || raw.kind === 'DELETE') {
        if (entry && --entry.count === 0) live.delete(key);
        if (entry) rowCount--;
        continue;
      }
      if (entry) entry.count++;
      else live.set(key, { row, count: 1 });
      rowCount++;
    }
    if (rowCount >= rowCap) {
      capped = true;
      break;
    }
  }
  const rows: (string | null)[][] = [];
  for (const { row, count } of live.values())
    for (let i = 0; i < count && rows.length < MAX_PREVIEW_ROWS; i++) rows.push(row);
  return { columns, rows, rowCount, capped };
}

/** Run the spec's SQL over a bounded sample of `inputs` (bound as the guard binds them). */
export async function previewProductSql(
  deps: PreviewDependencies,
  input: { spec: ProductSpec; inputs: readonly InputBinding[]; jobName: string },
  limits: PreviewLimits = defaultPreviewLimits,
): Promise<ProposalPreview> {
  const began = Date.now();
  const at = new Date(began).toISOString();
  const bounded = new Map<string, Bounds>();
  for (const binding of input.inputs)
    if (!bounded.has(binding.topic))
      bounded.set(binding.topic, await sampleBounds(deps.kafka, binding.topic, limits.recordsPerInput));
  const sampled = input.inputs.map((b) => ({
    input: b.alias,
    topic: b.topic,
    records: bounded.get(b.topic)!.records,
  }));
  if (!input.spec.sql) return failedPreview('the proposal has no SQL', sampled, began, at);
  const { readers, problems } = await resolveAvroReaders(input.inputs, deps.valueSchemas);
  if (problems.length > 0) return failedPreview(problems.join('; '), sampled, began, at);
  const options: InputSqlOptions = {
    connectors: deps.connectors,
    groupId: 'meshloop-preview',
    avroReaders: readers,
    bounded,
  };
  const session = await deps.gateway.openSession({
    name: 'meshloop-preview',
    properties: guardedSessionProperties,
    heartbeatIntervalMs: false,
  });
  try {
    for (const binding of input.inputs)
      for (const statement of inputStatements(binding, options)) await session.configure(statement);
    const statement = `SELECT * FROM (\n${approvedSelect(input.spec.sql)}\n) AS ${q('meshloop_preview')}`;
    // The job's own (streaming) mode over bounded sources: it ends when they do, and the windows
    // close at the end of the input. (Batch mode plans some of the SQL the job runs differently.)
    const handle = await session.submit(statement, {
      executionConfig: { 'pipeline.name': input.jobName, 'table.exec.source.idle-timeout': '1 s' },
    });
    const collected = await collectRows(session, handle, statement, began + limits.timeoutMs, limits.rowCap);
    await session.cancel(handle).catch(() => undefined);
    return boundedPreview({
      outcome: collected.rowCount > 0 ? 'rows' : 'empty',
      ...collected,
      sampled,
      tookMs: Date.now() - began,
      at,
    });
  } catch (error) {
    // A statement Flink refuses, or a preview that runs past its time, is a finding.
    if (error instanceof FlinkStatementError && !error.retryable)
      return failedPreview(
        `Flink: ${error.flinkMessage.replace(/\s+/g, ' ').slice(0, 1500)}`,
        sampled,
        began,
        at,
      );
    if (error instanceof FlinkRequestError && error.status === 408)
      return failedPreview(`no result within ${Math.round(limits.timeoutMs / 1000)} s`, sampled, began, at);
    throw error;
  } finally {
    await session.close().catch((error: unknown) => deps.log?.warn('preview session not closed', { error }));
  }
}
