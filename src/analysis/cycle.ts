import type { IcebergLake } from '../adapters/duckdb/lake';
import { LakeQueryError } from '../adapters/duckdb/lake';
import { parseDuration } from '../domain/duration';
import type { IcebergTableRef } from '../domain/materialization';
import type { ProductSpec } from '../domain/spec';
import { productIdOf } from '../domain/spec';
import type { DriftFinding, FieldSummary, SnapshotSummary } from './drift';
import { compareSnapshots, fieldSummaryQueries, TOP_VALUES } from './drift';
import type { UncheckableRule } from './quality-queries';
import { duckIdent, qualityRuleQueries } from './quality-queries';
import type { CycleOutcome } from '../domain/analysis';
import type { PastCycle, ResultRow } from './results-table';
import { CYCLE_ROW } from './results-table';
import type { VolumeCheck } from './volume';
import { checkVolume, VOLUME_THRESHOLDS } from './volume';

/**
 * One analysis cycle over a product's table at a pinned snapshot: the contract's quality rules,
 * the SLA's freshness, the volume added since the previous cycle against the recent ones, and
 * profile drift against the previous cycle's snapshot (time travel). `measureCycle` runs the
 * queries (DuckDB); `outcomeOf` and `resultRowsOf` turn the measurement into the bounded summary
 * the product workflow receives and the rows of `meshloop.analysis_results`. Both are pure.
 */

export const MAX_EXAMPLES = 5;
/** Past cycles read back for the volume baseline (the previous one included). */
export const PAST_CYCLES = VOLUME_THRESHOLDS.window + 1;
const SUMMARY_LIMITS = { breaches: 20, findings: 20, examples: 10, example: 200, summary: 500, rule: 200 };
/** Figures stored per row stay well below what a DuckDB string or a reader wants to see. */
const MAX_FIGURES_CHARS = 32_000;

export type RuleResult = Readonly<{ rule: string; failing: number; examples: string[] }>;

export type FreshnessCheck = Readonly<{
  outcome: 'pass' | 'fail';
  /** Newest event time (or last commit, without an event time field), ISO; undefined for an empty table. */
  newest?: string;
  ageMs?: number;
  limitMs: number;
  basis: 'eventTime' | 'lastCommit';
  summary: string;
}>;

export type DriftCheck = Readonly<{
  previousSnapshotId?: string;
  findings: readonly DriftFinding[];
  /** Why drift was not measured (first cycle, no new snapshot, previous snapshot expired). */
  skipped?: string;
}>;

export type CycleMeasurement = Readonly<{
  productId: string;
  cycleKey: string;
  snapshotId: string;
  at: string;
  rows: number;
  rules: readonly RuleResult[];
  uncheckable: readonly UncheckableRule[];
  freshness: FreshnessCheck;
  volume: VolumeCheck;
  drift: DriftCheck;
  profile: SnapshotSummary;
}>;

const clip = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);
const num = (value: unknown): number => {
  const n = Number(value);
  return Number.isFinite(n) ? n : 0;
};

function formatAge(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

export function freshnessCheck(input: {
  newestMs: number | undefined;
  nowMs: number;
  freshness: string;
  basis: FreshnessCheck['basis'];
}): FreshnessCheck {
  const limitMs = parseDuration(input.freshness) ?? 3_600_000;
  const what = input.basis === 'eventTime' ? 'newest event' : 'last commit (no readable event time)';
  if (input.newestMs === undefined) {
    return {
      outcome: 'fail',
      limitMs,
      basis: input.basis,
      summary: `the table has no ${input.basis === 'eventTime' ? 'event time' : 'commit'}: nothing is fresh (SLA ${input.freshness})`,
    };
  }
  // A clock a little ahead of ours is not staleness.
  const ageMs = Math.max(0, input.nowMs - input.newestMs);
  const newest = new Date(input.newestMs).toISOString();
  return {
    outcome: ageMs > limitMs ? 'fail' : 'pass',
    newest,
    ageMs,
    limitMs,
    basis: input.basis,
    summary: `${what} ${newest} is ${formatAge(ageMs)} old; the SLA allows ${input.freshness}`,
  };
}

/** Rows added since the previous cycle, and per earlier cycle (oldest first), from past row counts. */
export function volumeFigures(
  past: readonly PastCycle[],
  rowsNow: number,
): { added: number; recent: number[] } {
  const recent: number[] = [];
  for (let i = 1; i < past.length; i++)
    recent.push(Math.max(0, (past[i] as PastCycle).rows - (past[i - 1] as PastCycle).rows));
  const previous = past[past.length - 1];
  return { added: previous ? Math.max(0, rowsNow - previous.rows) : rowsNow, recent };
}

/**
 * The profile of `t` from the drift queries' answers (DuckDB's JSON rows). `present`: the columns
 * the snapshot has (an older snapshot may lack a field added since).
 */
export function snapshotSummaryOf(
  spec: Pick<ProductSpec, 'schema'>,
  snapshotId: string,
  counts: Readonly<Record<string, unknown>>,
  values: Readonly<Record<string, ReadonlyArray<Readonly<Record<string, unknown>>>>>,
): SnapshotSummary {
  const rows = num(counts.rows);
  const fields: FieldSummary[] = spec.schema.fields.map((field, i) => {
    const listed = values[field.name];
    return {
      name: field.name,
      type: field.type,
      rows,
      nulls: rows - num(counts[`present_${i}`]),
      distinct: num(counts[`distinct_${i}`]),
      ...(counts[`mean_${i}`] !== undefined && counts[`mean_${i}`] !== null
        ? { mean: num(counts[`mean_${i}`]), stddev: num(counts[`stddev_${i}`]) }
        : {}),
      ...(listed && listed.length <= TOP_VALUES
        ? { values: listed.map((v) => ({ value: String(v.value), count: num(v.count) })) }
        : {}),
    };
  });
  return { snapshotId, rows, fields };
}

/** Run the profile queries on `t` at one snapshot, over the spec's fields that snapshot has. */
export async function profileAt(
  lake: IcebergLake,
  table: IcebergTableRef,
  spec: ProductSpec,
  snapshotId: string,
  step: (what: string) => void = () => undefined,
): Promise<{ profile: SnapshotSummary; query: string }> {
  const columns = new Set(
    (await lake.query('SELECT * FROM t LIMIT 0', { table, snapshotId, maxRows: 0 })).columns,
  );
  const present: Pick<ProductSpec, 'schema'> = {
    schema: { ...spec.schema, fields: spec.schema.fields.filter((f) => columns.has(f.name)) },
  };
  const queries = fieldSummaryQueries(present);
  step(`profile at ${snapshotId}`);
  const counts = (await lake.query(queries.counts, { table, snapshotId, maxRows: 1 })).rows[0] ?? {};
  const values: Record<string, ReadonlyArray<Record<string, unknown>>> = {};
  const index = new Map(present.schema.fields.map((f, i) => [f.name, i]));
  for (const [field, sql] of Object.entries(queries.values)) {
    // A field with many values keeps no value list: its (approximate) distinct count says so without
    // grouping every row. The estimate is a few % off, hence the margin.
    if (num(counts[`distinct_${index.get(field) ?? -1}`]) > TOP_VALUES * 1.25) continue;
    step(`values of ${field} at ${snapshotId}`);
    values[field] = (await lake.query(sql, { table, snapshotId, maxRows: TOP_VALUES + 1 })).rows;
  }
  return { profile: snapshotSummaryOf(present, snapshotId, counts, values), query: queries.counts };
}

export type MeasureInput = Readonly<{
  lake: IcebergLake;
  table: IcebergTableRef;
  spec: ProductSpec;
  cycleKey: string;
  snapshot: Readonly<{ snapshotId: string; timestampMs: number }>;
  /** Earlier cycles, oldest first (from the results table). */
  past: readonly PastCycle[];
  /** Snapshot ids the table still has (an expired one cannot be travelled to). */
  snapshotIds: ReadonlySet<string>;
  now: Date;
  /** Called before each query: the activity heartbeats. */
  step?: (what: string) => void;
}>;

export async function measureCycle(input: MeasureInput): Promise<CycleMeasurement> {
  const { lake, table, spec, snapshot, now } = input;
  const step = input.step ?? (() => undefined);
  const at = { table, snapshotId: snapshot.snapshotId };

  const { queries, uncheckable: notQueries } = qualityRuleQueries(spec, { now, maxExamples: MAX_EXAMPLES });
  const uncheckable = [...notQueries];
  const rules: RuleResult[] = [];
  for (const query of queries) {
    step(`rule ${query.rule}`);
    let row: Record<string, unknown>;
    try {
      row = (await lake.query(query.sql, { ...at, maxRows: 1 })).rows[0] ?? {};
    } catch (error) {
      // DuckDB refused the rule's query (a column the table lacks, a custom condition that does not
      // bind): the rule is reported as not checked, the other checks still run.
      if (!(error instanceof LakeQueryError)) throw error;
      uncheckable.push({ rule: query.rule, reason: clip(error.message, 300) });
      continue;
    }
    rules.push({
      rule: query.rule,
      failing: num(row.failing),
      examples: (Array.isArray(row.examples) ? row.examples : []).map((e) => String(e)),
    });
  }

  const current = await profileAt(lake, table, spec, snapshot.snapshotId, step);

  const eventTime = spec.schema.eventTimeField;
  let newestMs: number | undefined = snapshot.timestampMs;
  let basis: FreshnessCheck['basis'] = 'lastCommit';
  if (eventTime && current.profile.fields.some((f) => f.name === eventTime)) {
    step('freshness');
    try {
      const row = (
        await lake.query(
          `SELECT epoch_ms(CAST(max(${duckIdent(eventTime)}) AS TIMESTAMPTZ))::BIGINT AS newest FROM t`,
          { ...at, maxRows: 1 },
        )
      ).rows[0];
      newestMs = row?.newest === null || row?.newest === undefined ? undefined : num(row.newest);
      basis = 'eventTime';
    } catch (error) {
      // An event time DuckDB cannot read as a time (epoch numbers): the last commit stands in.
      if (!(error instanceof LakeQueryError)) throw error;
    }
  }
  const freshness = freshnessCheck({
    newestMs,
    nowMs: now.getTime(),
    freshness: spec.sla.freshness,
    basis,
  });

  const { added, recent } = volumeFigures(input.past, current.profile.rows);
  const volume = checkVolume(added, recent);

  const previous = input.past[input.past.length - 1];
  let drift: DriftCheck;
  if (!previous) drift = { findings: [], skipped: 'first cycle: nothing to compare with' };
  else if (previous.snapshotId === snapshot.snapshotId)
    drift = {
      previousSnapshotId: previous.snapshotId,
      findings: [],
      skipped: 'no new snapshot since the previous cycle',
    };
  else if (!input.snapshotIds.has(previous.snapshotId))
    drift = {
      previousSnapshotId: previous.snapshotId,
      findings: [],
      skipped: `the previous cycle's snapshot ${previous.snapshotId} has expired`,
    };
  else {
    try {
      const before = await profileAt(lake, table, spec, previous.snapshotId, step);
      drift = {
        previousSnapshotId: previous.snapshotId,
        findings: compareSnapshots(before.profile, current.profile),
      };
    } catch (error) {
      if (!(error instanceof LakeQueryError)) throw error;
      drift = {
        previousSnapshotId: previous.snapshotId,
        findings: [],
        skipped: clip(`the previous snapshot could not be read: ${error.message}`, 300),
      };
    }
  }
  return {
    productId: productIdOf(spec),
    cycleKey: input.cycleKey,
    snapshotId: snapshot.snapshotId,
    at: now.toISOString(),
    rows: current.profile.rows,
    rules,
    uncheckable,
    freshness,
    volume,
    drift,
    profile: current.profile,
  };
}

function ruleSummary(rule: RuleResult, rows: number): string {
  if (rule.rule.startsWith('freshness:'))
    return `${rule.rule}: the newest event (${rule.examples[0] ?? '?'}) is older than allowed`;
  if (rule.rule.startsWith('unique:')) return `${rule.rule}: ${rule.failing} duplicate rows of ${rows}`;
  return `${rule.rule}: ${rule.failing} of ${rows} rows fail`;
}

/** The summary the product workflow receives: any failing rule or SLA breach is a breach. Bounded. */
export function outcomeOf(m: CycleMeasurement): CycleOutcome {
  const breaches = [
    ...m.rules
      .filter((r) => r.failing > 0)
      .map((r) => ({
        rule: r.rule,
        failing: r.failing,
        examples: r.examples,
        summary: ruleSummary(r, m.rows),
      })),
    ...(m.freshness.outcome === 'fail'
      ? [
          {
            rule: 'sla:freshness',
            failing: 1,
            examples: m.freshness.newest ? [m.freshness.newest] : [],
            summary: m.freshness.summary,
          },
        ]
      : []),
  ].map((b) => ({
    rule: clip(b.rule, SUMMARY_LIMITS.rule),
    failing: Math.max(0, Math.floor(b.failing)),
    examples: b.examples.slice(0, SUMMARY_LIMITS.examples).map((e) => clip(e, SUMMARY_LIMITS.example)),
    summary: clip(b.summary, SUMMARY_LIMITS.summary),
  }));
  const findings = [
    ...(m.volume.outcome === 'drop' || m.volume.outcome === 'spike'
      ? [`volume ${m.volume.outcome}: ${m.volume.summary}`]
      : []),
    ...m.drift.findings.map((f) => `drift: ${f.summary}`),
    ...m.uncheckable.map((u) => `${u.rule} not checked: ${u.reason}`),
  ];
  const shown = findings.slice(0, SUMMARY_LIMITS.findings);
  if (findings.length > shown.length)
    shown[shown.length - 1] =
      `… and ${findings.length - shown.length + 1} more findings (see meshloop.analysis_results)`;
  return {
    productId: m.productId,
    cycleKey: m.cycleKey,
    snapshotId: m.snapshotId,
    at: m.at,
    outcome: breaches.length > 0 ? 'breach' : 'pass',
    rows: Math.max(0, Math.floor(m.rows)),
    breaches: breaches.slice(0, SUMMARY_LIMITS.breaches),
    findings: shown.map((f) => clip(f, SUMMARY_LIMITS.summary)),
  };
}

/** A cycle without a snapshot to read (no table, or nothing committed yet). */
export function noDataOutcome(productId: string, cycleKey: string, at: Date, why: string): CycleOutcome {
  return {
    productId,
    cycleKey,
    snapshotId: null,
    at: at.toISOString(),
    outcome: 'noData',
    rows: 0,
    breaches: [],
    findings: [clip(why, SUMMARY_LIMITS.summary)],
  };
}

const json = (value: unknown) => {
  const text = JSON.stringify(value);
  return text.length > MAX_FIGURES_CHARS ? JSON.stringify({ truncated: true, chars: text.length }) : text;
};

/** The rows of `meshloop.analysis_results` for one cycle: one per check, and the cycle's own. */
export function resultRowsOf(outcome: CycleOutcome, m?: CycleMeasurement): ResultRow[] {
  const base = {
    productId: outcome.productId,
    cycleKey: outcome.cycleKey,
    snapshotId: outcome.snapshotId,
    rows: outcome.rows,
    at: outcome.at,
  };
  const cycleRow: ResultRow = {
    ...base,
    rule: CYCLE_ROW,
    outcome: outcome.outcome,
    failing: outcome.breaches.length,
    // The whole outcome, always (a retried cycle and the product workflow read it back; the summary
    // schema bounds it to well under 100 KB); the profile beside it only when it is small.
    figures: JSON.stringify({
      outcome,
      ...(m && JSON.stringify(m.profile).length < MAX_FIGURES_CHARS ? { profile: m.profile } : {}),
    }),
    examples: '[]',
    summary: clip(
      outcome.outcome === 'breach'
        ? `breach: ${outcome.breaches.map((b) => b.rule).join(', ')}`
        : outcome.outcome === 'pass'
          ? `pass (${outcome.findings.length} findings)`
          : (outcome.findings[0] ?? 'no data'),
      SUMMARY_LIMITS.summary,
    ),
  };
  if (!m) return [cycleRow];
  return [
    cycleRow,
    ...m.rules.map((r) => ({
      ...base,
      rule: r.rule,
      outcome: r.failing > 0 ? 'fail' : 'pass',
      failing: r.failing,
      figures: json({ failing: r.failing, rows: m.rows }),
      examples: json(r.examples.slice(0, MAX_EXAMPLES)),
      summary: clip(ruleSummary(r, m.rows), SUMMARY_LIMITS.summary),
    })),
    ...m.uncheckable.map((u) => ({
      ...base,
      rule: u.rule,
      outcome: 'uncheckable',
      failing: 0,
      figures: '{}',
      examples: '[]',
      summary: clip(u.reason, SUMMARY_LIMITS.summary),
    })),
    {
      ...base,
      rule: 'sla:freshness',
      outcome: m.freshness.outcome,
      failing: m.freshness.outcome === 'fail' ? 1 : 0,
      figures: json(m.freshness),
      examples: json(m.freshness.newest ? [m.freshness.newest] : []),
      summary: clip(m.freshness.summary, SUMMARY_LIMITS.summary),
    },
    {
      ...base,
      rule: 'sla:volume',
      outcome: m.volume.outcome,
      failing: 0,
      figures: json(m.volume),
      examples: '[]',
      summary: clip(m.volume.summary, SUMMARY_LIMITS.summary),
    },
    {
      ...base,
      rule: 'drift',
      outcome: m.drift.skipped ? 'skipped' : m.drift.findings.length > 0 ? 'finding' : 'pass',
      failing: m.drift.findings.length,
      figures: json(m.drift),
      examples: '[]',
      summary: clip(
        m.drift.skipped ?? (m.drift.findings.map((f) => f.summary).join('; ') || 'no drift'),
        SUMMARY_LIMITS.summary,
      ),
    },
  ];
}
