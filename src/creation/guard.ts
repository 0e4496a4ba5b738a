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
  productInsert,
  SINK_TABLE,
  sinkStatements,
} from './job-sql';
import type { UpstreamLookup } from './inputs';
import { inputBindingsOf } from './inputs';
import type { PlanColumn, PlanLineage, ViewSignature } from './sql-plan';
import { planLineage, PlanLineageError, TRUNCATE_MAX_CHARS, viewSignatureOf } from './sql-plan';
import { internalNamesUsed, lineageFromText, statementKindProblems, tokenize } from './sql-text';

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
 * 4. What the query reads and what each output column is computed from come from Flink's own
 *    planner (sql-plan.ts): the logical plan of the job's INSERT, in which each input must be read
 *    through its declared view (its subtree exactly as Flink prints it for `SELECT * FROM alias`)
 *    and no other table is scanned. Lineage the plan reader cannot establish is a refusal.
 * 5. The text is checked against the plan: every input the plan reads is named in the text, and
 *    when the text's own lineage (sql-text.ts) is readable, the plan adds no origin to a column
 *    that the text does not show (a part of the query hidden from the text, e.g. by a comment
 *    read differently, is refused).
 * 6. Masking, for every derivation: an output column computed from personal data (a masked output
 *    column, a topic field declared `pii`, an upstream product's personal field) must be computed
 *    through the declared masking function on every path (hash, tokenize: SHA2; truncate:
 *    LEFT/RIGHT(x, n ≤ 4); redact: a constant; `x IS [NOT] NULL` reveals only whether there is a
 *    value and counts as masked for every strategy), and must itself be masked by the spec.
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
  lookupProduct: UpstreamLookup = () => undefined,
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
        // Planned only, never run: no transaction is opened.
        transactionalIdPrefix: 'meshloop-guard',
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

  let plan: PlanLineage;
  try {
    // Lineage from the plan of the job's own INSERT, as the job will run it.
    const jobPlan = explainText(await session.execute(`EXPLAIN ${productInsert(spec, select)}`));
    plan = planLineage(jobPlan, await viewSignatures(session, inputs));
  } catch (error) {
    if (!(error instanceof PlanLineageError) && !isSqlProblem(error)) throw error;
    const reason = error instanceof PlanLineageError ? error.message : flinkProblem(error, 'Flink');
    return refused(
      [
        `sql: the guard cannot establish from Flink's plan what each column is computed from, so the SQL is refused: ${reason}`,
      ],
      columns,
    );
  }
  const found = [
    ...textAgainstPlan(select, inputs, plan, columns),
    ...maskingProblems(spec, inputs, plan.columns),
  ];
  if (found.length > 0) return refused(found, columns);
  return { ok: true, problems: [], columns, lineage: lineageOf(plan) };
}

/** The text of an EXPLAIN result (one row, one column). */
function explainText(result: { rows: ReadonlyArray<Record<string, unknown>> }): string {
  const [row] = result.rows;
  const text = row ? Object.values(row)[0] : undefined;
  if (typeof text !== 'string') throw new PlanLineageError('Flink returned no plan');
  return text;
}

/** Each input's view as the plan shows it, from Flink in the same session. */
async function viewSignatures(
  session: SqlGatewaySession,
  inputs: readonly InputBinding[],
): Promise<ViewSignature[]> {
  const signatures: ViewSignature[] = [];
  for (const input of inputs) {
    const explained = explainText(await session.execute(`EXPLAIN SELECT * FROM ${q(input.alias)}`));
    signatures.push(
      viewSignatureOf(explained, { alias: input.alias, fields: input.fields.map((f) => f.name) }),
    );
  }
  return signatures;
}

/** Lineage as stored (catalog, workflow): input fields per column, without how they were masked. */
function lineageOf(plan: PlanLineage): ColumnLineage[] {
  return plan.columns.map((column) => {
    const seen = new Set<string>();
    const from: Array<{ input: string; field: string }> = [];
    for (const origin of column.from) {
      if (seen.has(`${origin.input}.${origin.field}`)) continue;
      seen.add(`${origin.input}.${origin.field}`);
      from.push({ input: origin.input, field: origin.field });
    }
    return { column: column.name, from };
  });
}

/**
 * What the plan holds that the text checks did not account for: an input read that the text does
 * not name, an origin of a column that the text's lineage does not show.
 */
function textAgainstPlan(
  select: string,
  inputs: readonly InputBinding[],
  plan: PlanLineage,
  columns: readonly OutputColumn[],
): string[] {
  const named = new Set(
    tokenize(select)
      .filter((t) => t.kind === 'word' || t.kind === 'quoted')
      .map((t) => (t.kind === 'word' ? t.raw : t.text).toLowerCase()),
  );
  const hidden = plan.inputsRead.filter((alias) => !named.has(alias.toLowerCase()));
  if (hidden.length > 0)
    return [
      `sql: Flink's plan reads ${hidden.join(', ')}, which the SQL text does not show (a comment or quoting read differently?): refused`,
    ];
  const traced = lineageFromText(
    select,
    inputs.map((input) => ({ alias: input.alias, fields: input.fields.map((f) => f.name) })),
  );
  // The text's columns are in the SELECT's order, as Flink's DESCRIBE names them.
  if (!traced || traced.length !== columns.length) return [];
  const textFrom = new Map(columns.map((column, i) => [column.name, traced[i]!.from]));
  return plan.columns.flatMap((column) => {
    const from = textFrom.get(column.name);
    if (!from) return [];
    const shown = new Set(from.map((ref) => `${ref.input}.${ref.field}`.toLowerCase()));
    const unseen = [
      ...new Set(
        column.from
          .map((origin) => `${origin.input}.${origin.field}`)
          .filter((ref) => !shown.has(ref.toLowerCase())),
      ),
    ];
    return unseen.length === 0
      ? []
      : [
          `sql: in Flink's plan the column '${column.name}' is computed from ${unseen.join(', ')}, which the SQL text does not show for it (a comment or quoting read differently?): refused`,
        ];
  });
}

const maskingExamples: Readonly<Record<string, (field: string) => string>> = {
  hash: (f) => `SHA2(CAST(${f} AS STRING), 256) AS ${f}`,
  redact: (f) => `CAST(NULL AS STRING) AS ${f} (or a constant such as '***')`,
  tokenize: (f) => `SUBSTRING(SHA2(CAST(${f} AS STRING), 256), 1, 16) AS ${f}`,
  truncate: (f) => `RIGHT(CAST(${f} AS STRING), 4) AS ${f} (or LEFT(...))`,
};

const maskedBy: Readonly<Record<string, string>> = {
  hash: 'SHA2 (or SHA256 ...)',
  tokenize: 'SHA2 (or SHA256 ...)',
  truncate: `LEFT/RIGHT(..., n ≤ ${TRUNCATE_MAX_CHARS}) or SHA2`,
};

/**
 * Masking for every derivation (the plan's lineage): an output column computed from personal data
 * must be masked by the spec, and computed through its masking function on every path (a field
 * its upstream product masked already counts as masked). A column the spec masks is personal
 * whatever it is computed from.
 */
function maskingProblems(
  spec: ProductSpec,
  inputs: readonly InputBinding[],
  columns: readonly PlanColumn[],
): string[] {
  const personal = new Map<string, 'raw' | 'masked'>();
  for (const input of inputs)
    for (const field of input.fields)
      if (field.personal) personal.set(`${input.alias}.${field.name}`, field.personal);
  const strategies = new Map(
    spec.classification.masking.filter((m) => m.strategy !== 'none').map((m) => [m.field, m.strategy]),
  );
  const names = (origins: readonly { input: string; field: string }[]) =>
    [...new Set(origins.map((o) => `${o.input}.${o.field}`))].join(', ');
  return columns.flatMap((column) => {
    const strategy = strategies.get(column.name);
    const fromPersonal = column.from.filter((o) => personal.has(`${o.input}.${o.field}`));
    if (!strategy) {
      if (fromPersonal.length === 0) return [];
      return [
        `sql: the column '${column.name}' is computed from personal data (${names(fromPersonal)}), but the spec does not mask it: personal data stays personal; mark '${column.name}' pii, add { field: ${column.name}, strategy: hash } to classification.masking and write e.g. ${maskingExamples.hash!(column.name)}`,
      ];
    }
    if (strategy === 'redact') {
      const kept = column.from.filter(
        (o) => o.via !== 'nullness' && personal.get(`${o.input}.${o.field}`) !== 'masked',
      );
      if (kept.length === 0) return [];
      return [
        `sql: '${column.name}' is personal data the spec redacts, but the SQL computes it from ${names(kept)}: write ${maskingExamples.redact!(column.name)}`,
      ];
    }
    const unmasked = column.from.filter(
      (o) =>
        personal.get(`${o.input}.${o.field}`) !== 'masked' &&
        (o.via === 'raw' || (strategy !== 'truncate' && o.via === 'truncate')),
    );
    if (unmasked.length === 0) return [];
    return [
      `sql: '${column.name}' is personal data the spec masks (${strategy}), but the SQL computes it from ${names(unmasked)} other than through ${maskedBy[strategy]} on every path: write e.g. ${maskingExamples[strategy]?.(column.name) ?? column.name}`,
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
