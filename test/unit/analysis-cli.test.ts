import assert from 'node:assert/strict';
import type { AnalysisScheduleRow } from '../../src/cli/analysis-commands';
import {
  analysisNowWorkflowIdOf,
  formatAnalysisResult,
  formatAnalysisSchedules,
} from '../../src/cli/analysis-commands';
import { formatIdeaLineage, ideaLineageOf } from '../../src/cli/idea-lineage';
import { formatRecentCycles } from '../../src/cli/analysis-lines';
import { parseCatalogDescriptor, toCatalogDescriptor } from '../../src/domain/catalog';
import { CatalogView } from '../../src/domain/catalog-view';
import type { Stage } from '../../src/domain/lifecycle';
import { buildProgram } from '../../src/cli/main';
import type { AnalysisResult } from '../../workflows/analysis';
import { validSpec } from '../helpers/specs';

const breach: AnalysisResult = {
  summary: {
    productId: 'orders.orders_curated',
    cycleKey: 'analysis_orders.orders_curated-now-1',
    snapshotId: '5120794012345678901',
    at: '2026-12-01T06:00:00.000Z',
    outcome: 'breach',
    rows: 12_000,
    breaches: [
      {
        rule: 'notNull:customer_id',
        failing: 12,
        examples: ['o-1', 'o-2', 'o-3'],
        summary: '12 rows without customer_id',
      },
      { rule: 'freshness:15m', failing: 1, examples: [], summary: 'newest event 2 h old' },
    ],
    findings: ['status: new value "lost"', 'volume: 40 % of the recent median'],
    proposals: ['abc'],
  },
  started: ['orders.orders_curated_valid_notnull_customer_id'],
  existing: ['orders.orders_by_status_hourly'],
};

describe('meshloop analyse: printing a cycle', () => {
  it('prints outcome, snapshot, rows, each breach with its keys, findings and the proposals started', () => {
    const text = formatAnalysisResult(breach);
    assert.match(text, /^product {3}orders\.orders_curated$/m);
    assert.match(text, /^outcome {3}breach$/m);
    assert.match(text, /^snapshot {2}5120794012345678901$/m);
    assert.match(text, /^rows {6}12000$/m);
    assert.match(text, /^ {2}RULE +FAILING +EXAMPLE KEYS +SUMMARY$/m);
    assert.match(text, /^ {2}notNull:customer_id +12 +o-1, o-2, o-3 +12 rows without customer_id$/m);
    assert.match(text, /^ {2}freshness:15m +1 +- +newest event 2 h old$/m);
    assert.match(text, /^ {2}- status: new value "lost"$/m);
    assert.match(
      text,
      /^proposals started: orders\.orders_curated_valid_notnull_customer_id; already proposed: orders\.orders_by_status_hourly$/m,
    );
    assert.match(text, /meshloop show orders\.orders_curated_valid_notnull_customer_id/);
  });

  it('says so when a cycle found nothing, or had no snapshot to read', () => {
    const text = formatAnalysisResult({
      summary: {
        ...breach.summary,
        outcome: 'noData',
        snapshotId: null,
        rows: 0,
        breaches: [],
        findings: [],
        proposals: [],
      },
      started: [],
      existing: [],
    });
    assert.match(text, /^outcome {3}noData$/m);
    assert.match(text, /^snapshot {2}\(none: the table has no snapshot yet\)$/m);
    assert.match(text, /^breaches {2}none$/m);
    assert.match(text, /^findings {2}none$/m);
    assert.match(text, /^proposals started: none$/m);
    assert.ok(!text.includes('meshloop show'));
  });

  it('names a cycle started by hand beside the schedule’s workflows', () => {
    assert.equal(
      analysisNowWorkflowIdOf('orders.orders_curated', new Date('2026-12-01T06:00:00.123Z')),
      'analysis:orders.orders_curated-now-2026-12-01T06-00-00-123Z',
    );
  });
});

describe('meshloop analyse --status: printing the schedules', () => {
  const rows: AnalysisScheduleRow[] = [
    {
      productId: 'orders.orders_curated',
      scheduleId: 'analysis:orders.orders_curated',
      everyMs: 3_600_000,
      paused: false,
      nextRunAt: '2026-12-01T07:00:00.000Z',
      lastRun: {
        workflowId: 'analysis:orders.orders_curated-cycle-2026-12-01T06:00:00Z',
        startedAt: '2026-12-01T06:00:00.000Z',
        status: 'COMPLETED',
        outcome: 'breach',
        breaches: 2,
        started: 1,
      },
    },
    {
      productId: 'payments.payments_curated',
      scheduleId: 'analysis:payments.payments_curated',
      everyMs: 1_800_000,
      paused: true,
      note: 'degraded: notNull:payment_id failing (3 rows)',
      nextRunAt: '2026-12-01T06:30:00.000Z',
    },
    {
      productId: 'shipping.shipments',
      scheduleId: 'analysis:shipping.shipments',
      everyMs: 900_000,
      paused: false,
      lastRun: { workflowId: 'w', startedAt: '2026-12-01T06:10:00.000Z', status: 'RUNNING' },
    },
  ];

  it('lists product, interval, paused with its note, next run and the last run’s result', () => {
    const lines = formatAnalysisSchedules(rows).split('\n');
    assert.match(lines[0]!, /^PRODUCT +EVERY +STATE +NEXT RUN +LAST RUN$/);
    assert.match(
      lines[1]!,
      /^orders\.orders_curated +1h +running +2026-12-01T07:00:00\.000Z +breach \(2 rules\) at 2026-12-01T06:00:00\.000Z, 1 proposed$/,
    );
    assert.match(
      lines[2]!,
      /^payments\.payments_curated +30m +paused \(degraded: notNull:payment_id failing \(3 rows\)\) +- +never$/,
    );
    assert.match(lines[3]!, /^shipping\.shipments +15m +running +- +running at 2026-12-01T06:10:00\.000Z$/);
  });

  it('says how a product gets a schedule when there is none', () => {
    assert.match(
      formatAnalysisSchedules([]),
      /no analysis schedules: a product gets one when it becomes active/,
    );
  });
});

describe('meshloop show: the lineage of ideas', () => {
  const descriptor = (name: string, stage: Stage, parent?: string) =>
    toCatalogDescriptor({
      spec: validSpec({
        name,
        ...(parent
          ? { proposal: { proposedBy: { kind: 'agent', name: 'llm-analyst' }, parentProductId: parent } }
          : {}),
      }),
      stage,
      decisions: [],
      resources: [],
      updatedAt: '2026-12-01T06:00:00.000Z',
    });
  const records: unknown[] = [
    descriptor('b_child', 'awaitingApproval', 'orders.parent'),
    descriptor('a_child', 'active', 'orders.parent'),
    descriptor('other', 'active', 'orders.elsewhere'),
    descriptor('parent', 'active', 'orders.parent'),
    // Anyone may write the catalog topic: what is not a descriptor is skipped on the way in.
    null,
    'orders.parent',
    { ...descriptor('odd_stage', 'active', 'orders.parent'), stage: { evil: true } },
  ];
  const catalog = new CatalogView(
    records.flatMap((record) => {
      const parsed = parseCatalogDescriptor(record);
      return parsed.ok ? [parsed.descriptor] : [];
    }),
  );

  it('finds the children in the catalog and the parent in the spec', () => {
    const lineage = ideaLineageOf('orders.parent', { proposal: undefined }, catalog);
    assert.deepEqual(lineage, {
      children: [
        { productId: 'orders.a_child', stage: 'active' },
        { productId: 'orders.b_child', stage: 'awaitingApproval' },
      ],
    });
    const child = ideaLineageOf(
      'orders.a_child',
      {
        proposal: {
          proposedBy: { kind: 'agent', name: 'llm-analyst' },
          reasoning: '',
          evidence: [],
          parentProductId: 'orders.parent',
        },
      },
      catalog,
    );
    assert.deepEqual(child, { parent: 'orders.parent', children: [] });
  });

  it('prints parent and children, and says when the catalog could not be read', () => {
    assert.equal(
      formatIdeaLineage({ parent: 'orders.parent', children: [{ productId: 'orders.x', stage: 'active' }] }),
      'derived from orders.parent\nchildren\n  orders.x (active)',
    );
    assert.equal(
      formatIdeaLineage({ children: [] }),
      'derived from - (not proposed by an analysis)\nchildren    none proposed from its analyses yet',
    );
    assert.equal(
      formatIdeaLineage(undefined, 'orders.parent'),
      'derived from orders.parent\nchildren    (the catalog could not be read)',
    );
  });
});

describe('meshloop analyse: help', () => {
  it('documents the product argument, --status and --json', () => {
    const command = buildProgram().commands.find((c) => c.name() === 'analyse');
    assert.ok(command, 'the analyse command exists');
    assert.deepEqual(command.aliases(), ['analyze']);
    let help = '';
    command.configureOutput({ writeOut: (text) => (help += text) });
    command.outputHelp();
    assert.match(help, /\[product\]/);
    assert.match(help, /--status/);
    assert.match(help, /--json/);
    assert.match(help, /meshloop analyse --status/);
  });

  it('show prints the schedule and the last cycles, newest first, with each breach', () => {
    const older = { ...breach.summary, cycleKey: 'c1', at: '2026-12-01T05:00:00.000Z' };
    const newer = {
      ...breach.summary,
      cycleKey: 'c2',
      at: '2026-12-01T06:00:00.000Z',
      outcome: 'pass' as const,
      breaches: [],
      findings: [],
      proposals: ['abc'],
    };
    const lines = formatRecentCycles({
      productId: 'orders.orders_curated',
      analysisSchedule: { state: 'running', every: '1h' },
      analysisCycles: [older, newer],
    });
    assert.equal(lines[0], 'analysis    every 1h, schedule analysis:orders.orders_curated running');
    assert.match(
      lines[1] ?? '',
      /^ {2}2026-12-01T06:00:00.000Z {2}pass at snapshot 5120794012345678901, 12000 rows; 1 proposal$/,
    );
    assert.match(lines[2] ?? '', /2026-12-01T05:00:00.000Z {2}breach .*: notNull:customer_id \d+ failing/);
    assert.deepEqual(formatRecentCycles({ productId: 'a.b' }), [
      'analysis    no schedule (it starts when the product is active)',
      '  no cycle yet (run one now: meshloop analyse a.b)',
    ]);
    assert.deepEqual(
      formatRecentCycles({ productId: 'a.b', analysisSchedule: { state: 'running', every: '1h' } })[1],
      "  no cycle yet: the first runs soon after the table's first commit (or now: meshloop analyse a.b)",
    );
  });
});
