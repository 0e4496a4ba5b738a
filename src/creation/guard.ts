import type { SqlGatewayClient, SqlGatewaySession } from '../adapters/flink/sql-gateway';
import { FlinkStatementError } from '../adapters/flink/errors';
import type { ColumnLineage, InputBinding, OutputColumn, SqlCheckResult } from '../domain/creation';
import { flinkTypeOf, quoteIdentifier as q } from '../domain/flink-types';
import type { FieldType, ProductSpec } from '../domain/spec';
import type { Logger } from '../log';
import type { AvroReader, ValueSchemaLookup } from './avro-sql';
import { resolveAvroReaders } from './avro-sql';
import type { FlinkConnectors } from './job-sql';
import {
  approvedSelect,
  guardedSessionProperties,
  inputStatements,
  SINK_TABLE,
  sinkStatements,
} from './job-sql';
import type { UpstreamProduct } from './inputs';
import { inputBindingsOf } from './inputs';
import { internalNamesUsed, lineageFromText, statementKindProblems } from './sql-text';

/**
 * The SQL guard: is a product's SQL one query that reads only its approved inputs and yields
 * exactly the spec's columns? Run before anyone is asked to approve, and again before deployment.
 *
 * 1. The text: one SELECT (or WITH ... SELECT), nothing that defines, changes or loads anything,
 *    no OPTIONS hint (sql-text.ts). Nothing else reaches Flink.
 * 2. Flink: a fresh SQL Gateway session with dynamic table options off, in which only the declared
 *    inputs exist (the same statements the job runs). Reading anything else fails by construction
 *    ("Object 'x' not found"). The query becomes a temporary view; DESCRIBE gives its columns as
 *    Flink typed them.
 * 3. The columns are compared with the spec (names exact; types by family, below). When they
 *    match, Flink plans the job's own INSERT into the product's real sink table, which also
 *    catches what only the planner knows (an updating query into an append-only topic ...).
 * 4. A personal field the spec masks must not be a raw copy of a topic's field.
 * 5. Column lineage is read from the query text (sql-text.ts: CTEs, derived tables, window TVFs,
 *    stars), and named by Flink's output columns. Flink 1.20 exposes no column lineage through
 *    the gateway (its plans print field indexes, not origins), so the text is the source.
 *
 * SQL problems are returned as sentences; a gateway that cannot be reached throws (the activity
 * retries).
 */

export type SqlGuardDependencies = Readonly<{
  gateway: SqlGatewayClient;
  /** Kafka and the registry as Flink reaches them (config.flink): the declarations carry their secrets. */
  connectors: FlinkConnectors;
  /** The registered value schema of a topic, for Avro inputs (valueSchemaLookup). */
  valueSchemas?: ValueSchemaLookup;
  log?: Logger;
}>;

export type SqlGuardInput = Readonly<{ spec: ProductSpec; inputs: readonly InputBinding[] }>;

const CANDIDATE_VIEW = 'meshloop_candidate';

const refused = (problems: string[], columns: readonly OutputColumn[] = []): SqlCheckResult => ({
  ok: false,
  problems,
  columns,
  lineage: [],
});

/** Flink's words, trimmed of its Java class name and of the (long) statement we sent. */
function flinkProblem(error: FlinkStatementError, what: string, linesBefore = 0): string {
  const message = error.flinkMessage
    .replace(/^(\w+\.)*(\w*Exception): /, '')
    // Positions as in the product's SQL, not in the statement that wrapped it.
    .replace(/\bline (\d+)/g, (_, line: string) => `line ${Math.max(1, Number(line) - linesBefore)}`)
    .replace(/\s+/g, ' ')
    .trim();
  return `${what}: ${message.length > 600 ? `${message.slice(0, 600)}…` : message}`;
}

/** A statement error that is about the SQL (returned), not about Flink's health (thrown). */
const isSqlProblem = (error: unknown): error is FlinkStatementError =>
  error instanceof FlinkStatementError && !error.retryable;

export async function checkProductSql(
  deps: SqlGuardDependencies,
  input: SqlGuardInput,
): Promise<SqlCheckResult> {
  const { spec, inputs } = input;
  if (spec.sql === undefined || spec.sql.trim() === '') {
    return refused([
      'sql: missing: every product carries one Flink SQL SELECT over its inputs, by their aliases' +
        (inputs.length > 0 ? ` (${inputs.map((i) => i.alias).join(', ')})` : ''),
    ]);
  }
  const textProblems = statementKindProblems(spec.sql).map((p) => `sql: ${p}`);
  const internal = internalNamesUsed(spec.sql);
  if (internal.length > 0) {
    textProblems.push(
      `sql: reads ${internal.join(', ')}: those are the platform's own tables; read each input by its alias (${inputs.map((i) => i.alias).join(', ')})`,
    );
  }
  if (inputs.length === 0) textProblems.push('inputs: the SQL has no declared input to read');
  if (textProblems.length > 0) return refused(textProblems);
  const { readers, problems: avroProblems } = await resolveAvroReaders(inputs, deps.valueSchemas);
  if (avroProblems.length > 0) return refused(avroProblems);

  const select = approvedSelect(spec.sql);
  const session = await deps.gateway.openSession({
    name: 'meshloop-sql-guard',
    properties: guardedSessionProperties,
    heartbeatIntervalMs: false,
  });
  try {
    return await checkInSession(deps, session, { spec, inputs, readers }, select);
  } finally {
    await session
      .close()
      .catch((error: unknown) =>
        deps.log?.warn('sql guard session not closed (it idles out)', { session: session.handle, error }),
      );
  }
}

/**
 * The guard over a whole spec: its inputs bound first (a product input's columns from
 * `lookupProduct`, e.g. the catalog), each binding problem returned as it is.
 */
export async function checkSpecSql(
  deps: SqlGuardDependencies,
  spec: ProductSpec,
  lookupProduct: (productId: string) => UpstreamProduct | undefined = () => undefined,
): Promise<SqlCheckResult> {
  const { bindings, problems } = inputBindingsOf(spec, lookupProduct);
  if (problems.length > 0) return refused(problems);
  return checkProductSql(deps, { spec, inputs: bindings });
}

async function checkInSession(
  deps: SqlGuardDependencies,
  session: SqlGatewaySession,
  checked: SqlGuardInput & { readers: ReadonlyMap<string, AvroReader> },
  select: string,
): Promise<SqlCheckResult> {
  const { spec, inputs, readers } = checked;
  const options = { connectors: deps.connectors, groupId: 'meshloop-guard', avroReaders: readers };
  for (const binding of inputs) {
    try {
      for (const statement of inputStatements(binding, options)) await session.configure(statement);
    } catch (error) {
      if (!isSqlProblem(error)) throw error;
      return refused([
        flinkProblem(error, `inputs: Flink refused the declaration of input '${binding.alias}'`),
      ]);
    }
  }

  let columns: OutputColumn[];
  try {
    await session.configure(`CREATE TEMPORARY VIEW ${q(CANDIDATE_VIEW)} AS\n${select}`);
    const described = await session.execute(`DESCRIBE ${q(CANDIDATE_VIEW)}`);
    columns = described.rows.map((row) => ({
      name: String(row.name),
      type: String(row.type),
      nullable: row.null !== false,
    }));
  } catch (error) {
    if (!isSqlProblem(error)) throw error;
    return refused([flinkProblem(error, 'sql: Flink refused the SQL', 1)]);
  }

  const problems = outputColumnProblems(spec, columns);
  // With the right columns, plan what the job runs: the insert into the product's real sink.
  const planned =
    problems.length === 0
      ? `EXPLAIN INSERT INTO ${q(SINK_TABLE)} (${spec.schema.fields.map((f) => q(f.name)).join(', ')})\n` +
        `SELECT ${spec.schema.fields.map((f) => q(f.name)).join(', ')} FROM ${q(CANDIDATE_VIEW)}`
      : `EXPLAIN SELECT * FROM ${q(CANDIDATE_VIEW)}`;
  try {
    if (problems.length === 0) {
      const [sink] = sinkStatements(spec, {
        connectors: deps.connectors,
        rejectedTopic: 'meshloop-guard.rejected',
      });
      await session.configure(sink!);
    }
    await session.execute(planned);
  } catch (error) {
    if (!isSqlProblem(error)) throw error;
    const rowtimes = /more than one rowtime attribute column \[([^\]]*)\]/.exec(String(error.flinkMessage));
    problems.push(
      flinkProblem(
        error,
        problems.length === 0
          ? 'sql: Flink cannot run it into the product topic'
          : 'sql: Flink cannot plan it',
      ) +
        (rowtimes
          ? `; a product has one event time: keep one of ${rowtimes[1]} as it is and write the others as CAST(<column> AS TIMESTAMP_LTZ(3)) AS <column>`
          : ''),
    );
  }
  if (problems.length > 0) return refused(problems, columns);

  const traced = lineageFromText(
    select,
    inputs.map((input) => ({ alias: input.alias, fields: input.fields.map((f) => f.name) })),
  );
  // Positions agree with Flink's columns when the text was read right; otherwise no lineage.
  const lineage =
    traced && traced.length === columns.length
      ? columns.map((column, i) => ({
          column: column.name,
          from: traced[i]!.from,
          direct: traced[i]!.direct,
        }))
      : undefined;
  if (!lineage)
    deps.log?.warn('sql guard: column lineage not readable from the SQL text', { product: spec.name });
  const masking = lineage ? maskingProblems(spec, inputs, lineage) : [];
  if (masking.length > 0) return refused(masking, columns);
  return {
    ok: true,
    problems: [],
    columns,
    lineage: (lineage ?? []).map(({ column, from }) => ({ column, from })),
  };
}

const maskingExamples: Readonly<Record<string, (field: string) => string>> = {
  hash: (f) => `SHA2(CAST(${f} AS STRING), 256) AS ${f}`,
  redact: (f) => `CAST(NULL AS STRING) AS ${f} (or a constant such as '***')`,
  tokenize: (f) => `SUBSTRING(SHA2(CAST(${f} AS STRING), 256), 1, 16) AS ${f}`,
  truncate: (f) => `RIGHT(CAST(${f} AS STRING), 4) AS ${f} (or LEFT(...))`,
};

/**
 * A personal field the spec masks must not be copied from a raw topic as it is: the product's
 * topic would hold the raw value. (A product input was masked by that product already.)
 */
function maskingProblems(
  spec: ProductSpec,
  inputs: readonly InputBinding[],
  lineage: ReadonlyArray<ColumnLineage & { direct: boolean }>,
): string[] {
  const rawTopics = new Set(
    inputs.filter((input) => input.productId === undefined).map((input) => input.alias),
  );
  return spec.classification.masking.flatMap((mask) => {
    if (mask.strategy === 'none') return [];
    const column = lineage.find((entry) => entry.column === mask.field);
    if (!column?.direct || !column.from.some((ref) => rawTopics.has(ref.input))) return [];
    const source = column.from.map((ref) => `${ref.input}.${ref.field}`).join(', ');
    return [
      `sql: '${mask.field}' is personal data the spec masks (${mask.strategy}), but the SQL copies ${source} as it is: write e.g. ${maskingExamples[mask.strategy]?.(mask.field) ?? mask.field}`,
    ];
  });
}

// ---------------------------------------------------------------------------------------------
// Output columns against the spec.

/**
 * The Flink type families a spec type accepts. Widening that Flink casts implicitly in the job's
 * INSERT is fine (an INT into a long, any number into a double); narrowing, a change of kind and
 * a timestamp without time zone are not (they lose data or shift instants).
 */
const integers = ['TINYINT', 'SMALLINT', 'INT', 'INTEGER', 'BIGINT'];
const accepted: Readonly<Record<FieldType, readonly string[]>> = {
  string: ['STRING', 'VARCHAR', 'CHAR'],
  json: ['STRING', 'VARCHAR', 'CHAR'],
  int: ['TINYINT', 'SMALLINT', 'INT', 'INTEGER'],
  long: integers,
  float: [...integers, 'DECIMAL', 'FLOAT'],
  double: [...integers, 'DECIMAL', 'FLOAT', 'DOUBLE'],
  decimal: [...integers, 'DECIMAL'],
  boolean: ['BOOLEAN'],
  date: ['DATE'],
  timestamp: ['TIMESTAMP_LTZ', 'TIMESTAMP_WITH_LOCAL_TIME_ZONE'],
  bytes: ['BYTES', 'VARBINARY', 'BINARY'],
};

/** `TIMESTAMP_LTZ(3) *ROWTIME*` → `TIMESTAMP_LTZ`; `VARCHAR(20) NOT NULL` → `VARCHAR`. */
export function typeFamilyOf(flinkType: string): string {
  const bare = flinkType
    .replace(/\*(ROWTIME|PROCTIME)\*/g, '')
    .replace(/\bNOT NULL\b/g, '')
    .trim()
    .toUpperCase();
  if (/^TIMESTAMP\(\d+\) WITH LOCAL TIME ZONE$/.test(bare) || /^TIMESTAMP WITH LOCAL TIME ZONE$/.test(bare))
    return 'TIMESTAMP_LTZ';
  if (bare === 'DOUBLE PRECISION') return 'DOUBLE';
  return (/^[A-Z_]+/.exec(bare)?.[0] ?? bare).trim();
}

function castHint(name: string, type: FieldType, family: string): string {
  if (type === 'timestamp' && family === 'TIMESTAMP')
    return `a TIMESTAMP has no time zone: write TO_TIMESTAMP_LTZ(<epoch millis>, 3) or CAST(<ts> AS TIMESTAMP_LTZ(3)) AS ${name}`;
  if (type === 'timestamp' && integers.includes(family))
    return `epoch numbers are not instants: write TO_TIMESTAMP_LTZ(<epoch millis>, 3) AS ${name}`;
  return `write CAST(... AS ${flinkTypeOf[type]}) AS ${name} if that is meant`;
}

/** Each way the query's columns differ from the spec's schema, as a sentence. */
export function outputColumnProblems(
  spec: Pick<ProductSpec, 'schema'>,
  columns: readonly Pick<OutputColumn, 'name' | 'type'>[],
): string[] {
  const problems: string[] = [];
  const byName = new Map(columns.map((column) => [column.name, column]));
  const seen = new Set<string>();
  for (const column of columns) {
    if (seen.has(column.name))
      problems.push(`sql: the column '${column.name}' is produced twice: name each column once`);
    seen.add(column.name);
  }
  for (const field of spec.schema.fields) {
    const column = byName.get(field.name);
    if (!column) {
      const other = columns.find((c) => c.name.toLowerCase() === field.name.toLowerCase());
      problems.push(
        other
          ? `sql: the spec's field '${field.name}' is produced as '${other.name}': names are case-sensitive, write AS ${field.name}`
          : `sql: the spec's field '${field.name}' (${field.type}) is not among the query's columns (${columns.map((c) => c.name).join(', ')}): select it AS ${field.name}`,
      );
      continue;
    }
    const family = typeFamilyOf(column.type);
    if (!accepted[field.type].includes(family)) {
      problems.push(
        `sql: the column '${field.name}' is ${column.type.replace(/\s*\*(ROWTIME|PROCTIME)\*/, '')} but the spec says ${field.type} (${flinkTypeOf[field.type]}): ${castHint(field.name, field.type, family)}`,
      );
    }
  }
  const specNames = new Set(spec.schema.fields.map((field) => field.name));
  for (const column of columns) {
    if (specNames.has(column.name)) continue;
    // A case-only difference was reported above, with the fix.
    if ([...specNames].some((name) => name.toLowerCase() === column.name.toLowerCase())) continue;
    problems.push(
      column.name.startsWith('EXPR$')
        ? `sql: the query has an unnamed column ${column.name} (${column.type}): name it with AS, or remove it`
        : `sql: the query's column '${column.name}' is not in the spec's schema: remove it, or add it to schema.fields`,
    );
  }
  return problems;
}
