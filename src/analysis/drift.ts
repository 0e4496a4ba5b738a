import type { ProductSpec } from '../domain/spec';
import { duckIdent } from './quality-queries';

/**
 * Profile drift between two snapshots of a product's table: new fields, vanished ones, changed
 * types, new nulls, new values of a low-cardinality field, and shifted distributions. Pure; the
 * summaries come from `fieldSummaryQuery` run at each snapshot (time travel).
 */

export type FieldSummary = Readonly<{
  name: string;
  type: string;
  rows: number;
  nulls: number;
  distinct: number;
  /** Numeric fields. */
  mean?: number;
  stddev?: number;
  /** Low-cardinality fields: every value with its count (at most TOP_VALUES). */
  values?: ReadonlyArray<{ value: string; count: number }>;
}>;
export type SnapshotSummary = Readonly<{ snapshotId: string; rows: number; fields: readonly FieldSummary[] }>;

export type DriftFinding = Readonly<{
  field: string;
  kind: 'newField' | 'droppedField' | 'typeChanged' | 'newNulls' | 'newValues' | 'distributionShift';
  summary: string;
}>;

export const DRIFT_THRESHOLDS = {
  /** Null share rising by more than this (or from none at all) is new nulls. */
  nullRise: 0.05,
  /** Total variation distance between value shares above this is a shift. */
  categoricalShift: 0.2,
  /** Mean moving by more than this many previous standard deviations is a shift. */
  meanShiftSd: 1,
} as const;
export const TOP_VALUES = 20;

const share = (n: number, of: number) => (of === 0 ? 0 : n / of);
const pct = (ratio: number) => `${(Math.round(ratio * 1000) / 10).toString()} %`;

export function compareSnapshots(previous: SnapshotSummary, current: SnapshotSummary): DriftFinding[] {
  const findings: DriftFinding[] = [];
  const before = new Map(previous.fields.map((f) => [f.name, f]));
  const after = new Map(current.fields.map((f) => [f.name, f]));
  for (const old of previous.fields) {
    if (!after.has(old.name))
      findings.push({ field: old.name, kind: 'droppedField', summary: `${old.name} is gone` });
  }
  for (const now of current.fields) {
    const old = before.get(now.name);
    if (!old) {
      findings.push({ field: now.name, kind: 'newField', summary: `${now.name} (${now.type}) is new` });
      continue;
    }
    if (old.type !== now.type) {
      findings.push({
        field: now.name,
        kind: 'typeChanged',
        summary: `${now.name}: ${old.type} → ${now.type}`,
      });
    }
    const oldNulls = share(old.nulls, old.rows);
    const newNulls = share(now.nulls, now.rows);
    if ((oldNulls === 0 && newNulls > 0) || newNulls - oldNulls > DRIFT_THRESHOLDS.nullRise) {
      findings.push({
        field: now.name,
        kind: 'newNulls',
        summary: `${now.name}: nulls ${pct(oldNulls)} → ${pct(newNulls)}`,
      });
    }
    if (old.values && now.values) {
      const known = new Set(old.values.map((v) => v.value));
      const added = now.values.filter((v) => !known.has(v.value));
      if (added.length > 0) {
        findings.push({
          field: now.name,
          kind: 'newValues',
          summary: `${now.name}: new values ${added
            .slice(0, 5)
            .map((v) => `'${v.value.slice(0, 40)}' (${v.count})`)
            .join(', ')}`,
        });
      }
      const oldTotal = old.values.reduce((s, v) => s + v.count, 0);
      const newTotal = now.values.reduce((s, v) => s + v.count, 0);
      const all = new Set([...known, ...now.values.map((v) => v.value)]);
      const oldShare = new Map(old.values.map((v) => [v.value, share(v.count, oldTotal)]));
      const newShare = new Map(now.values.map((v) => [v.value, share(v.count, newTotal)]));
      let distance = 0;
      for (const value of all) distance += Math.abs((oldShare.get(value) ?? 0) - (newShare.get(value) ?? 0));
      distance /= 2;
      if (distance > DRIFT_THRESHOLDS.categoricalShift) {
        findings.push({
          field: now.name,
          kind: 'distributionShift',
          summary: `${now.name}: value shares moved by ${pct(distance)} (total variation; threshold ${pct(DRIFT_THRESHOLDS.categoricalShift)})`,
        });
      }
    } else if (old.mean !== undefined && now.mean !== undefined && old.stddev !== undefined) {
      const moved = Math.abs(now.mean - old.mean);
      const scale = old.stddev > 0 ? old.stddev : Math.abs(old.mean) || 1;
      if (moved / scale > DRIFT_THRESHOLDS.meanShiftSd) {
        findings.push({
          field: now.name,
          kind: 'distributionShift',
          summary: `${now.name}: mean ${old.mean} → ${now.mean} (${(moved / scale).toFixed(1)} standard deviations)`,
        });
      }
    }
  }
  return findings;
}

const numericTypes = new Set(['int', 'long', 'float', 'double', 'decimal']);

/**
 * The queries that summarise table `t` for drift: one row of counts and moments, then one query per
 * low-cardinality candidate (string and boolean fields) listing its values when there are at most
 * TOP_VALUES of them (the caller keeps `values` only then).
 */
export function fieldSummaryQueries(spec: Pick<ProductSpec, 'schema'>): {
  counts: string;
  values: Record<string, string>;
} {
  const parts = ['count(*) AS "rows"'];
  spec.schema.fields.forEach((field, i) => {
    const c = duckIdent(field.name);
    parts.push(`count(${c}) AS "present_${i}"`, `approx_count_distinct(${c}) AS "distinct_${i}"`);
    if (numericTypes.has(field.type))
      parts.push(`avg(${c}) AS "mean_${i}"`, `stddev_pop(${c}) AS "stddev_${i}"`);
  });
  const values: Record<string, string> = {};
  for (const field of spec.schema.fields) {
    if (field.type !== 'string' && field.type !== 'boolean') continue;
    const c = duckIdent(field.name);
    values[field.name] =
      `SELECT CAST(${c} AS VARCHAR) AS value, count(*) AS count FROM t WHERE ${c} IS NOT NULL ` +
      `GROUP BY ALL ORDER BY count DESC, value LIMIT ${TOP_VALUES + 1}`;
  }
  return { counts: `SELECT ${parts.join(', ')} FROM t`, values };
}
