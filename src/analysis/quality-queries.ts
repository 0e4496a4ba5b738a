import { parseDuration } from '../domain/duration';
import type { ProductSpec, QualityRule } from '../domain/spec';

/**
 * The contract's quality rules as DuckDB queries over the product's table, read at one pinned
 * snapshot and registered under the name `t` by whoever runs them. Each query returns one row:
 * `failing` (BIGINT) and `examples` (VARCHAR[], at most `maxExamples` keys of failing rows). Pure.
 */

export type RuleQuery = Readonly<{
  /** Stable label for results and history: `notNull:customer_id`, `custom:positive_amount`. */
  rule: string;
  sql: string;
}>;
/** A rule that cannot be checked on this table, and why (reported, never silently passed). */
export type UncheckableRule = Readonly<{ rule: string; reason: string }>;

export const DEFAULT_MAX_EXAMPLES = 5;

/** A DuckDB identifier, always quoted, so any field name is read as a name and nothing else. */
export const duckIdent = (name: string) => `"${name.replace(/"/g, '""')}"`;
/** A DuckDB string literal. */
export const duckText = (text: string) => `'${text.replace(/'/g, "''")}'`;

export function ruleLabel(rule: QualityRule): string {
  switch (rule.rule) {
    case 'notNull':
    case 'range':
    case 'allowedValues':
      return `${rule.rule}:${rule.field}`;
    case 'unique':
      return `unique:${rule.fields.join(',')}`;
    case 'freshness':
      return `freshness:${rule.maxDelay}`;
    case 'custom':
      return `custom:${rule.name}`;
  }
}

/** How a failing row is named in examples: its key (`a|b` for composite keys), else the rule's field. */
function keyExpression(spec: Pick<ProductSpec, 'schema'>, fallback?: string): string {
  const key = spec.schema.key;
  if (key.length === 1) return `CAST(${duckIdent(key[0] as string)} AS VARCHAR)`;
  if (key.length > 1)
    return `concat_ws('|', ${key.map((k) => `CAST(${duckIdent(k)} AS VARCHAR)`).join(', ')})`;
  return fallback ? `CAST(${duckIdent(fallback)} AS VARCHAR)` : `'(no key)'`;
}

const failingRows = (where: string, key: string, maxExamples: number) =>
  `WITH failing AS (SELECT ${key} AS key FROM t WHERE ${where}) ` +
  `SELECT (SELECT count(*) FROM failing) AS failing, ` +
  `(SELECT coalesce(list(key), []::VARCHAR[]) FROM (SELECT key FROM failing LIMIT ${maxExamples})) AS examples`;

// Custom rules are row conditions (a CHECK constraint): this keeps them expressions over `t`'s
// columns. The adapter that runs them must still disable external access in DuckDB.
const forbiddenInCustom =
  /;|--|\/\*|\b(select|from|join|attach|detach|copy|install|load|pragma|call|set|create|insert|update|delete|drop|alter|export|import)\b|\b(read_\w+|glob|getenv|iceberg_\w+|parquet_\w+|query|query_table)\s*\(/i;

/** Why a custom rule's SQL is not a plain row condition, or undefined when it is. */
export function customRuleProblem(sql: string): string | undefined {
  if (sql.length > 2000) return 'the condition is longer than 2000 characters';
  const found = forbiddenInCustom.exec(sql);
  return found
    ? `a custom rule is one row condition over the table's columns ('${found[0]}' is not allowed)`
    : undefined;
}

/** The row condition a valid row satisfies, for the rules that judge single rows (DuckDB dialect). */
export function validRowCondition(
  rule: QualityRule,
  quote: (name: string) => string = duckIdent,
): string | undefined {
  switch (rule.rule) {
    case 'notNull':
      return `${quote(rule.field)} IS NOT NULL`;
    case 'range': {
      const bounds = [
        ...(rule.min !== undefined ? [`${quote(rule.field)} >= ${rule.min}`] : []),
        ...(rule.max !== undefined ? [`${quote(rule.field)} <= ${rule.max}`] : []),
      ];
      return `(${quote(rule.field)} IS NULL OR (${bounds.join(' AND ')}))`;
    }
    case 'allowedValues':
      return `(${quote(rule.field)} IS NULL OR CAST(${quote(rule.field)} AS VARCHAR) IN (${rule.values.map(duckText).join(', ')}))`;
    case 'custom':
      return customRuleProblem(rule.sql) === undefined ? `(${rule.sql})` : undefined;
    default:
      return undefined;
  }
}

/**
 * One query per rule. `now` is the cycle's time (freshness is measured against it, so a cycle's
 * figures do not depend on when the query happens to run).
 */
export function qualityRuleQueries(
  spec: Pick<ProductSpec, 'schema' | 'quality'>,
  options: { now: Date; maxExamples?: number },
): { queries: RuleQuery[]; uncheckable: UncheckableRule[] } {
  const maxExamples = Math.max(1, Math.min(100, Math.floor(options.maxExamples ?? DEFAULT_MAX_EXAMPLES)));
  const queries: RuleQuery[] = [];
  const uncheckable: UncheckableRule[] = [];
  for (const rule of spec.quality) {
    const label = ruleLabel(rule);
    switch (rule.rule) {
      case 'notNull':
      case 'range':
      case 'allowedValues':
        queries.push({
          rule: label,
          sql: failingRows(
            `NOT ${validRowCondition(rule) as string}`,
            keyExpression(spec, rule.field),
            maxExamples,
          ),
        });
        break;
      case 'custom': {
        const problem = customRuleProblem(rule.sql);
        if (problem) uncheckable.push({ rule: label, reason: problem });
        // A row where the condition is NULL has not shown it holds: it fails.
        else
          queries.push({
            rule: label,
            sql: failingRows(`(${rule.sql}) IS NOT TRUE`, keyExpression(spec), maxExamples),
          });
        break;
      }
      case 'unique': {
        const columns = rule.fields.map(duckIdent);
        const key =
          columns.length === 1
            ? `CAST(${columns[0] as string} AS VARCHAR)`
            : `concat_ws('|', ${columns.map((c) => `CAST(${c} AS VARCHAR)`).join(', ')})`;
        // Failing rows: every row beyond the first of each duplicated key.
        queries.push({
          rule: label,
          sql:
            `WITH duplicated AS (SELECT ${key} AS key, count(*) AS n FROM t GROUP BY ${columns.join(', ')} HAVING count(*) > 1) ` +
            `SELECT coalesce((SELECT sum(n - 1) FROM duplicated), 0)::BIGINT AS failing, ` +
            `(SELECT coalesce(list(key), []::VARCHAR[]) FROM (SELECT key FROM duplicated ORDER BY n DESC, key LIMIT ${maxExamples})) AS examples`,
        });
        break;
      }
      case 'freshness': {
        const field = spec.schema.eventTimeField;
        const delay = parseDuration(rule.maxDelay);
        if (!field || delay === undefined) {
          uncheckable.push({ rule: label, reason: 'the product has no event time field' });
          break;
        }
        const oldest = new Date(options.now.getTime() - delay).toISOString();
        const newest = `max(${duckIdent(field)})`;
        queries.push({
          rule: label,
          sql:
            `SELECT CASE WHEN ${newest} IS NULL OR ${newest} < CAST(${duckText(oldest)} AS TIMESTAMPTZ) THEN 1 ELSE 0 END::BIGINT AS failing, ` +
            `[coalesce(CAST(${newest} AS VARCHAR), '(empty table)')] AS examples FROM t`,
        });
        break;
      }
    }
  }
  return { queries, uncheckable };
}
