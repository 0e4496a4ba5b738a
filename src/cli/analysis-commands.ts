import type { Client } from '@temporalio/client';
import { ScheduleNotFoundError, WorkflowFailedError, WorkflowNotFoundError } from '@temporalio/client';
import type { Command } from 'commander';
import { ANALYSIS_SCHEDULE_PREFIX, analysisScheduleIdOf } from '../domain/analysis';
import { formatDuration } from '../domain/duration';
import type { TableStatus } from '../domain/materialization';
import { meshloopSearchAttributes } from '../domain/search-attributes';
import { workflowIdOf } from '../domain/spec';
import { productTableOf, productTableStatus } from '../query/product-query';
import type { AnalysisInput, AnalysisResult, analysisWorkflow } from '../../workflows/analysis';
import { analysisWorkflowType } from '../../workflows/analysis';
import { printResult, progressLine, table } from './output';
import { CliError, usageError } from './errors';
import { fromTemporal, requireWorker, withClient } from './temporal';
import { productArgument } from './options';

/**
 * `meshloop analyse <product>`: one analysis cycle now (the workflow the product's schedule starts),
 * waited for and printed; `meshloop analyse --status`: every product's analysis schedule.
 */

/** A product to analyse must exist (its workflow) and have a table: said plainly before anything starts. */
export async function checkAnalysable(
  productId: string,
  deps: {
    client: Client;
    tableStatus: (productId: string) => Promise<TableStatus | undefined>;
  },
): Promise<{ stage: string; table: TableStatus }> {
  let stage: string;
  try {
    const description = await deps.client.workflow.getHandle(workflowIdOf(productId)).describe();
    stage = description.typedSearchAttributes.get(meshloopSearchAttributes.stage) ?? 'unknown';
  } catch (error) {
    if (error instanceof WorkflowNotFoundError)
      throw new CliError(`no such product: ${productId}`, {
        kind: 'not-found',
        hint: '`meshloop list` shows the products',
      });
    throw error;
  }
  const table = await deps.tableStatus(productId);
  if (!table) {
    throw new CliError(`${productId} has no Iceberg table yet (stage ${stage})`, {
      kind: 'refused',
      hint: "analysis reads the product's table, which provisioning creates: analyse it once it is active",
    });
  }
  return { stage, table };
}

/** The id of a cycle started by hand: beside the schedule's, never equal to it. */
export const analysisNowWorkflowIdOf = (productId: string, at: Date) =>
  `${analysisScheduleIdOf(productId)}-now-${at.toISOString().replace(/[:.]/g, '-')}`;

/** Start one cycle and wait for its result, with a progress line now and then. */
export async function runAnalysisNow(
  client: Client,
  options: {
    productId: string;
    taskQueue: string;
    now?: Date;
    progress?: (message: string) => void;
    progressEveryMs?: number;
  },
): Promise<{ workflowId: string; result: AnalysisResult }> {
  const progress = options.progress ?? progressLine;
  const workflowId = analysisNowWorkflowIdOf(options.productId, options.now ?? new Date());
  const args: [AnalysisInput] = [{ productId: options.productId }];
  const handle = await client.workflow.start<typeof analysisWorkflow>(analysisWorkflowType, {
    taskQueue: options.taskQueue,
    workflowId,
    args,
  });
  const began = Date.now();
  progress(
    `analysis cycle ${workflowId} started on task queue '${options.taskQueue}'; waiting for its result`,
  );
  const timer = setInterval(
    () =>
      progress(
        `still analysing ${options.productId} (${Math.round((Date.now() - began) / 1000)} s); ` +
          'a worker must run it (`npm start`)',
      ),
    options.progressEveryMs ?? 15_000,
  );
  try {
    return { workflowId, result: await handle.result() };
  } catch (error) {
    if (error instanceof WorkflowFailedError) {
      const cause = error.cause instanceof Error ? error.cause.message : error.message;
      throw new CliError(`the analysis cycle ${workflowId} failed: ${cause}`, {
        kind: 'failed',
        hint: 'the worker log and the Temporal UI show the cycle; `meshloop show <product>` its last cycles',
      });
    }
    throw error;
  } finally {
    clearInterval(timer);
  }
}

const short = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

/** A cycle's checks for people: outcome, snapshot, rows, each breach, findings, proposals started. */
export function formatAnalysisResult(result: AnalysisResult): string {
  const { summary } = result;
  const lines = [
    `product   ${summary.productId}`,
    `outcome   ${summary.outcome}`,
    `snapshot  ${summary.snapshotId ?? '(none: the table has no snapshot yet)'}`,
    `rows      ${summary.rows}`,
    `at        ${summary.at}   cycle ${summary.cycleKey}`,
  ];
  if (summary.breaches.length === 0) lines.push('breaches  none');
  else {
    lines.push('breaches');
    lines.push(
      table([
        ['  RULE', 'FAILING', 'EXAMPLE KEYS', 'SUMMARY'],
        ...summary.breaches.map((b) => [
          `  ${b.rule}`,
          String(b.failing),
          b.examples.length > 0 ? short(b.examples.slice(0, 5).join(', '), 60) : '-',
          b.summary,
        ]),
      ]),
    );
  }
  if (summary.findings.length === 0) lines.push('findings  none');
  else {
    lines.push('findings');
    for (const finding of summary.findings) lines.push(`  - ${finding}`);
  }
  lines.push(
    `proposals started: ${result.started.length > 0 ? result.started.join(', ') : 'none'}` +
      (result.existing.length > 0 ? `; already proposed: ${result.existing.join(', ')}` : ''),
  );
  if (result.started[0]) lines.push(`see one with \`meshloop show ${result.started[0]}\``);
  return lines.join('\n');
}

/** One analysis schedule as `analyse --status` lists it. */
export type AnalysisScheduleRow = {
  productId: string;
  scheduleId: string;
  everyMs?: number;
  paused: boolean;
  note?: string;
  nextRunAt?: string;
  lastRun?: {
    workflowId: string;
    startedAt: string;
    /** RUNNING, COMPLETED, FAILED, TERMINATED, TIMED_OUT ... as Temporal says. */
    status: string;
    outcome?: AnalysisResult['summary']['outcome'];
    breaches?: number;
    started?: number;
  };
};

/** The schedules `analysis:*`, each described (the list itself may lag behind a pause). */
export async function listAnalysisSchedules(client: Client): Promise<AnalysisScheduleRow[]> {
  const ids: string[] = [];
  for await (const summary of client.schedule.list()) {
    if (summary.scheduleId.startsWith(ANALYSIS_SCHEDULE_PREFIX)) ids.push(summary.scheduleId);
  }
  const rows: AnalysisScheduleRow[] = [];
  for (const scheduleId of ids.sort()) {
    let description;
    try {
      description = await client.schedule.getHandle(scheduleId).describe();
    } catch (error) {
      if (error instanceof ScheduleNotFoundError) continue; // deleted since it was listed
      throw error;
    }
    const every = description.spec.intervals?.[0]?.every;
    const row: AnalysisScheduleRow = {
      productId: scheduleId.slice(ANALYSIS_SCHEDULE_PREFIX.length),
      scheduleId,
      ...(typeof every === 'number' ? { everyMs: every } : {}),
      paused: description.state.paused,
      ...(description.state.note ? { note: description.state.note } : {}),
      ...(description.info.nextActionTimes[0]
        ? { nextRunAt: description.info.nextActionTimes[0].toISOString() }
        : {}),
    };
    const last = description.info.recentActions.at(-1);
    if (last) {
      const { workflowId, firstExecutionRunId } = last.action.workflow;
      const handle = client.workflow.getHandle<typeof analysisWorkflow>(workflowId, firstExecutionRunId);
      const run = await handle.describe().catch(() => undefined);
      row.lastRun = {
        workflowId,
        startedAt: last.takenAt.toISOString(),
        status: run?.status.name ?? 'UNKNOWN',
      };
      if (run?.status.name === 'COMPLETED') {
        const result = await handle.result().catch(() => undefined);
        if (result) {
          row.lastRun.outcome = result.summary.outcome;
          row.lastRun.breaches = result.summary.breaches.length;
          row.lastRun.started = result.started.length;
        }
      }
    }
    rows.push(row);
  }
  return rows;
}

function lastRunText(run: AnalysisScheduleRow['lastRun']): string {
  if (!run) return 'never';
  const what =
    run.outcome === undefined
      ? run.status.toLowerCase()
      : run.outcome === 'breach'
        ? `breach (${run.breaches ?? 0} rule${run.breaches === 1 ? '' : 's'})`
        : run.outcome;
  return `${what} at ${run.startedAt}${run.started ? `, ${run.started} proposed` : ''}`;
}

export function formatAnalysisSchedules(rows: readonly AnalysisScheduleRow[]): string {
  if (rows.length === 0)
    return 'no analysis schedules: a product gets one when it becomes active (`meshloop list --stage active`)';
  return table([
    ['PRODUCT', 'EVERY', 'STATE', 'NEXT RUN', 'LAST RUN'],
    ...rows.map((row) => [
      row.productId,
      row.everyMs !== undefined ? formatDuration(row.everyMs) : '-',
      row.paused ? `paused${row.note ? ` (${short(row.note, 60)})` : ''}` : 'running',
      row.paused ? '-' : (row.nextRunAt ?? '-'),
      lastRunText(row.lastRun),
    ]),
  ]);
}

export function registerAnalysisCommands(program: Command): void {
  program
    .command('analyse')
    .alias('analyze')
    .description(
      "Run one analysis cycle of a product now (quality rules, SLA and drift on its Iceberg table; the analyst's proposals) and print its checks; or list the analysis schedules",
    )
    .argument('[product]', 'product id (<domain>.<name>)', productArgument)
    .option('--status', "list every product's analysis schedule: interval, paused or not, next and last run")
    .option('--json', 'machine-readable output (the cycle’s AnalysisResult, or the schedules)', false)
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  meshloop analyse orders.orders_curated         one cycle now, waited for (a worker must run: npm start)',
        '  meshloop analyse orders.orders_curated --json  the same, as JSON',
        '  meshloop analyse --status                      the schedules analysis:<product id>',
        '',
        'A cycle that finds a breach moves the product to degraded (and back to active after a clean one);',
        'its results are in the Iceberg table meshloop.analysis_results (`meshloop query`).',
      ].join('\n'),
    )
    .action(async (product: string | undefined, options: { status?: boolean; json: boolean }) => {
      if (options.status) {
        if (product) throw usageError('--status lists every schedule: give no product with it');
        await withClient(async (client, config) => {
          const rows = await fromTemporal(client, config, () => listAnalysisSchedules(client));
          printResult(options.json, rows, () => formatAnalysisSchedules(rows));
        });
        return;
      }
      if (!product)
        throw usageError(
          'name a product to analyse (or give --status)',
          '`meshloop analyse --help` shows examples',
        );
      const productId = product.replace(/^data-product:/, '');
      await withClient(async (client, config) => {
        productTableOf(productId, config.materialize.catalog); // refuses a malformed id with the reason
        await fromTemporal(client, config, () =>
          checkAnalysable(productId, { client, tableStatus: (id) => productTableStatus(config, id) }),
        );
        // The cycle runs on the worker: without one it would wait for ever.
        await requireWorker(client, config, config.temporal.taskQueue);
        const { result } = await runAnalysisNow(client, { productId, taskQueue: config.temporal.taskQueue });
        printResult(options.json, result, () => formatAnalysisResult(result));
      });
    });
}
