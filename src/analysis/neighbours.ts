import type { IcebergLake } from '../adapters/duckdb/lake';
import type { IcebergTableRef } from '../domain/materialization';
import type { FieldType, ProductSpec } from '../domain/spec';
import { productIdOf } from '../domain/spec';
import type { Neighbour } from './analyst';
import { duckIdent } from './quality-queries';

/**
 * Join keys found from the data: for another active product with a single key, how many of our
 * field's distinct values are among its keys (containment), measured in DuckDB over both tables at
 * their pinned snapshots. Which pairs are worth measuring is pure (`overlapCandidates`).
 */

/** At most this many neighbours are measured per cycle, and this many of our fields per neighbour. */
export const MAX_NEIGHBOURS = 10;
export const MAX_FIELDS_PER_NEIGHBOUR = 8;

/** Values compare as text; these families hold comparable keys. */
const keyFamily: Partial<Record<FieldType, string>> = {
  string: 'text',
  json: 'text',
  int: 'integer',
  long: 'integer',
  decimal: 'decimal',
};

export type NeighbourTable = Readonly<{
  spec: ProductSpec;
  stage: string;
  table: IcebergTableRef;
  snapshotId: string;
}>;

/** Our fields worth testing against the neighbour's single key: same family, not personal. */
export function overlapCandidates(
  parent: ProductSpec,
  neighbour: ProductSpec,
): Array<{ field: string; theirField: string }> {
  if (neighbour.schema.key.length !== 1 || productIdOf(neighbour) === productIdOf(parent)) return [];
  const theirField = neighbour.schema.key[0] as string;
  const theirType = neighbour.schema.fields.find((f) => f.name === theirField)?.type;
  const family = theirType ? keyFamily[theirType] : undefined;
  if (!family) return [];
  return parent.schema.fields
    .filter((f) => !f.pii && keyFamily[f.type] === family)
    .slice(0, MAX_FIELDS_PER_NEIGHBOUR)
    .map((f) => ({ field: f.name, theirField }));
}

/** Containment of `t.field`'s distinct values in `n.theirField`'s: one row, `total` and `contained`. */
export function overlapQuery(field: string, theirField: string): string {
  const ours = duckIdent(field);
  const theirs = duckIdent(theirField);
  return (
    `WITH ours AS (SELECT DISTINCT CAST(${ours} AS VARCHAR) AS v FROM t WHERE ${ours} IS NOT NULL), ` +
    `theirs AS (SELECT DISTINCT CAST(${theirs} AS VARCHAR) AS v FROM n WHERE ${theirs} IS NOT NULL) ` +
    `SELECT (SELECT count(*) FROM ours) AS total, ` +
    `(SELECT count(*) FROM ours WHERE v IN (SELECT v FROM theirs)) AS contained`
  );
}

export async function measureNeighbours(input: {
  lake: IcebergLake;
  parent: ProductSpec;
  table: IcebergTableRef;
  snapshotId: string;
  neighbours: readonly NeighbourTable[];
  step?: (what: string) => void;
}): Promise<Neighbour[]> {
  const measured: Neighbour[] = [];
  for (const neighbour of input.neighbours.slice(0, MAX_NEIGHBOURS)) {
    const overlaps: Array<Neighbour['overlaps'][number]> = [];
    for (const candidate of overlapCandidates(input.parent, neighbour.spec)) {
      input.step?.(`overlap ${candidate.field} with ${productIdOf(neighbour.spec)}`);
      const query = overlapQuery(candidate.field, candidate.theirField);
      const row =
        (
          await input.lake.query(query, {
            table: input.table,
            snapshotId: input.snapshotId,
            alsoAs: { n: { table: neighbour.table, snapshotId: neighbour.snapshotId } },
            maxRows: 1,
          })
        ).rows[0] ?? {};
      const total = Number(row.total ?? 0);
      const contained = Number(row.contained ?? 0);
      overlaps.push({
        ...candidate,
        containment: total > 0 ? contained / total : 0,
        query: query
          .replace(/\bFROM t\b/, `FROM ${productIdOf(input.parent)}`)
          .replace(/\bFROM n\b/, `FROM ${productIdOf(neighbour.spec)}`),
      });
    }
    if (overlaps.length > 0) measured.push({ spec: neighbour.spec, stage: neighbour.stage, overlaps });
  }
  return measured;
}
