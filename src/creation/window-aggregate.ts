import { quoteIdentifier as q } from '../domain/flink-types';
import type { FieldType } from '../domain/spec';

/** A column of the aggregate's output, typed as Flink yields it. */
export type WindowField = Readonly<{ name: string; type: FieldType; nullable: boolean }>;

/** A measure of a windowed aggregate: a row count, or the sum of a numeric column. */
export type WindowMeasure = Readonly<
  { name: string; fn: 'count' } | { name: string; fn: 'sum'; column: string; type: FieldType }
>;

/** What SUM yields in Flink, by the summed column's type (SUM of INT is INT: widened to BIGINT). */
const sumTypeOf: Partial<Record<FieldType, FieldType>> = {
  int: 'long',
  long: 'long',
  float: 'float',
  double: 'double',
  decimal: 'decimal',
};

/**
 * A tumbling-window aggregate over one input by its alias (a window TVF). `window_start` and
 * `window_end` come out of the TVF as TIMESTAMP(3); they are cast to TIMESTAMP_LTZ(3) (the session
 * is in UTC) so that they are `timestamp` columns like every other instant of the mesh.
 */
export function tumbleAggregateSql(input: {
  alias: string;
  timeColumn: string;
  /** e.g. `INTERVAL '1' HOUR` */
  size: string;
  dimensions: ReadonlyArray<Readonly<{ name: string; type: FieldType; nullable: boolean }>>;
  measures: readonly WindowMeasure[];
}): { sql: string; fields: WindowField[] } {
  const measures = input.measures.map((m) => {
    if (m.fn === 'count')
      return {
        sql: `COUNT(*) AS ${q(m.name)}`,
        field: { name: m.name, type: 'long' as const, nullable: false },
      };
    const type = sumTypeOf[m.type] ?? 'double';
    const sum = `SUM(${q(m.column)})`;
    return {
      sql: `${m.type === 'int' ? `CAST(${sum} AS BIGINT)` : sum} AS ${q(m.name)}`,
      field: { name: m.name, type, nullable: true },
    };
  });
  const dims = input.dimensions.map((d) => q(d.name));
  const select = [
    'CAST(window_start AS TIMESTAMP_LTZ(3)) AS window_start',
    'CAST(window_end AS TIMESTAMP_LTZ(3)) AS window_end',
    ...dims,
    ...measures.map((m) => m.sql),
  ];
  const sql =
    `SELECT\n  ${select.join(',\n  ')}\n` +
    `FROM TABLE(TUMBLE(TABLE ${input.alias}, DESCRIPTOR(${q(input.timeColumn)}), ${input.size}))\n` +
    `GROUP BY ${['window_start', 'window_end', ...dims].join(', ')}`;
  return {
    sql,
    fields: [
      { name: 'window_start', type: 'timestamp', nullable: false },
      { name: 'window_end', type: 'timestamp', nullable: false },
      ...input.dimensions.map((d) => ({ name: d.name, type: d.type, nullable: d.nullable })),
      ...measures.map((m) => m.field),
    ],
  };
}
