/**
 * Just enough of Flink SQL's lexical structure to judge a product's statement before Flink sees it:
 * is it one query (no DDL, DML, SET, EXECUTE, CALL, LOAD MODULE, ADD JAR ...), and which input
 * fields feed each output column. Flink's own validation (in a session holding only the approved
 * inputs) stays the final word; this check runs first so a statement that is not a query never
 * reaches the gateway at all. Pure.
 *
 * Why not an npm parser: node-sql-parser's FlinkSQL dialect loses the table inside a window TVF
 * (`TABLE(TUMBLE(TABLE x, ...))`) and dt-sql-parser does not load on Node 20; a statement-kind
 * check needs only tokens, and Flink validates the rest.
 */

export type Token = Readonly<{
  kind: 'word' | 'quoted' | 'string' | 'number' | 'symbol' | 'hint';
  /** Words upper-cased for keyword checks, quoted names unquoted; `raw` keeps the text. */
  text: string;
  raw: string;
  /** Parenthesis depth at the token (0 = top level). */
  depth: number;
}>;

export class SqlTextError extends Error {}

function closingQuote(sql: string, from: number, quote: string, what: string): number {
  let j = from + 1;
  for (;;) {
    const at = sql.indexOf(quote, j);
    if (at === -1) throw new SqlTextError(`${what} is not closed`);
    if (sql[at + 1] === quote) j = at + 2;
    else return at + 1;
  }
}

/**
 * Split SQL into tokens. Comments are dropped; hints (`/*+ ... *\/`) are kept as one token, so the
 * check can name them. Comments are read exactly as Flink 1.20 reads them (checked against the SQL
 * Gateway, test/integration/sql-guard.test.ts): `--` and `//` start a comment that ends at a `\n`
 * or a `\r`; `/* ... *\/` does not nest (the first `*\/` ends it). A `"` is no quote in Flink (a
 * parse error), so it is an ordinary symbol here.
 */
export function tokenize(sql: string): Token[] {
  const tokens: Token[] = [];
  let depth = 0;
  let i = 0;
  const push = (kind: Token['kind'], raw: string, text = raw) => tokens.push({ kind, text, raw, depth });
  while (i < sql.length) {
    const c = sql[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if ((c === '-' && sql[i + 1] === '-') || (c === '/' && sql[i + 1] === '/')) {
      // As Flink (Calcite) reads them: `--` and `//` comments, anywhere on a line, end at the
      // first line feed OR carriage return.
      const rest = sql.slice(i + 2).search(/[\r\n]/);
      i = rest === -1 ? sql.length : i + 2 + rest + 1;
    } else if (c === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2);
      if (end === -1) throw new SqlTextError('a /* comment */ is not closed');
      if (sql[i + 2] === '+') push('hint', sql.slice(i, end + 2), sql.slice(i + 3, end).trim());
      i = end + 2;
    } else if (c === "'") {
      const end = closingQuote(sql, i, "'", 'a string literal');
      push('string', sql.slice(i, end));
      i = end;
    } else if (c === '`') {
      const end = closingQuote(sql, i, '`', 'a `quoted name`');
      const raw = sql.slice(i, end);
      push('quoted', raw, raw.slice(1, -1).replace(/``/g, '`'));
      i = end;
    } else if (/[A-Za-z_$]/.test(c)) {
      let j = i + 1;
      while (j < sql.length && /[A-Za-z0-9_$]/.test(sql[j]!)) j++;
      const raw = sql.slice(i, j);
      push('word', raw, raw.toUpperCase());
      i = j;
    } else if (/[0-9]/.test(c)) {
      let j = i + 1;
      while (j < sql.length && /[0-9.eE]/.test(sql[j]!)) j++;
      push('number', sql.slice(i, j));
      i = j;
    } else if (c === '(') {
      push('symbol', c);
      depth++;
      i++;
    } else if (c === ')') {
      depth--;
      if (depth < 0) throw new SqlTextError("a ')' has no matching '('");
      push('symbol', c);
      i++;
    } else {
      push('symbol', c);
      i++;
    }
  }
  if (depth !== 0) throw new SqlTextError("a '(' is not closed");
  return tokens;
}

// Words that start statements other than a query. None is a keyword of a SELECT, so finding one
// (not as a qualified column `t.word`, not as a function call `word(`) means the text is not only a
// query. A column that is really called like one of these must be written `quoted`.
const statementWords = new Set([
  'INSERT',
  'UPSERT',
  'CREATE',
  'DROP',
  'ALTER',
  'SET',
  'RESET',
  'EXECUTE',
  'CALL',
  'LOAD',
  'UNLOAD',
  'ADD',
  'REMOVE',
  'USE',
  'TRUNCATE',
  'DELETE',
  'UPDATE',
  'MERGE',
  'SHOW',
  'DESCRIBE',
  'EXPLAIN',
  'ANALYZE',
  'BEGIN',
  'JAR',
  'MODULE',
]);

const isName = (token: Token | undefined): token is Token & { kind: 'word' | 'quoted' } =>
  token !== undefined && (token.kind === 'word' || token.kind === 'quoted');
/** A word's name as written (quoted names unquoted). */
const nameOf = (token: Token) => (token.kind === 'word' ? token.raw : token.text);

/**
 * Problems that make the text something other than exactly one query (CTEs, joins, window TVFs,
 * aggregates and UNIONs are fine), each a sentence saying what to do. Empty when it is one.
 */
export function statementKindProblems(sql: string): string[] {
  let tokens: Token[];
  try {
    tokens = tokenize(sql);
  } catch (error) {
    return [`the SQL does not scan: ${(error as Error).message}`];
  }
  const problems: string[] = [];
  while (tokens.length > 0 && tokens[tokens.length - 1]?.text === ';') tokens.pop();
  if (tokens.filter((t) => t.kind !== 'hint').length === 0)
    return ['the SQL is empty: write one SELECT over the inputs'];
  if (tokens.some((t) => t.text === ';')) {
    problems.push(
      'the SQL holds more than one statement: write exactly one SELECT (a single trailing ";" at most)',
    );
  }
  const first = tokens.find((t) => t.kind !== 'hint' && t.text !== '(');
  if (!(first?.kind === 'word' && (first.text === 'SELECT' || first.text === 'WITH'))) {
    problems.push(`the SQL must be a query starting with SELECT or WITH, not '${first?.raw ?? '('}'`);
  }
  const found = new Set<string>();
  tokens.forEach((token, i) => {
    if (token.kind !== 'word' || !statementWords.has(token.text)) return;
    if (tokens[i - 1]?.text === '.' || tokens[i + 1]?.text === '(') return; // a column or a function
    found.add(token.text);
  });
  if (found.size > 0) {
    problems.push(
      `only a query is allowed, but the SQL contains ${[...found]
        .sort()
        .join(
          ', ',
        )}: statements that define, change or load anything are refused (a column of that name must be quoted with backticks)`,
    );
  }
  for (const hint of tokens.filter((t) => t.kind === 'hint')) {
    if (/\bOPTIONS\s*\(/i.test(hint.text)) {
      problems.push(
        `the hint ${hint.raw.replace(/\s+/g, ' ').slice(0, 120)} changes a table's connector options: ` +
          'inputs are read only as approved, remove the OPTIONS hint',
      );
    }
  }
  return problems;
}

/** Words of the text that name Meshloop's own tables (`meshloop_source_orders`): read inputs by alias. */
export function internalNamesUsed(sql: string, prefix = 'meshloop_'): string[] {
  let tokens: Token[];
  try {
    tokens = tokenize(sql);
  } catch {
    return [];
  }
  const found = new Set<string>();
  for (const token of tokens)
    if (isName(token) && nameOf(token).toLowerCase().startsWith(prefix)) found.add(nameOf(token));
  return [...found];
}

// ---------------------------------------------------------------------------------------------
// Column lineage from the text: which input fields each output column of the query reads.

/** The columns of one declared input (its alias and field names). */
export type LineageInput = Readonly<{ alias: string; fields: readonly string[] }>;
export type FieldRef = Readonly<{ input: string; field: string }>;
/** One output column of a query, in order, with the input fields it is computed from. */
export type TextLineage = Readonly<{
  column: string;
  from: readonly FieldRef[];
  /** True when the column is an input field copied as it is (no function, no expression). */
  direct: boolean;
}>;

/** A relation in a FROM clause: its name in the query and what each of its columns comes from. */
type Relation = { alias: string; columns: Array<{ name: string; from: FieldRef[]; direct: boolean }> };
type Environment = ReadonlyMap<string, Relation['columns']>;

const clauseWords = new Set([
  'FROM',
  'WHERE',
  'GROUP',
  'HAVING',
  'ORDER',
  'LIMIT',
  'UNION',
  'INTERSECT',
  'EXCEPT',
  'MINUS',
  'WINDOW',
  'JOIN',
  'ON',
  'USING',
  'LEFT',
  'RIGHT',
  'INNER',
  'FULL',
  'CROSS',
  'OUTER',
  'NATURAL',
  'LATERAL',
  'FOR',
  'MATCH_RECOGNIZE',
  'TABLESAMPLE',
  'QUALIFY',
]);
const setOperators = new Set(['UNION', 'INTERSECT', 'EXCEPT', 'MINUS']);
// Words that end an expression: never an alias written without AS.
const notAliases = new Set([
  'END',
  'NULL',
  'TRUE',
  'FALSE',
  'UNKNOWN',
  'SECOND',
  'MINUTE',
  'HOUR',
  'DAY',
  'WEEK',
  'MONTH',
  'YEAR',
  'QUARTER',
]);
const windowColumns = ['window_start', 'window_end', 'window_time'];

const uniqueRefs = (refs: readonly FieldRef[]): FieldRef[] => {
  const seen = new Map<string, FieldRef>();
  for (const ref of refs) seen.set(`${ref.input}\u0000${ref.field}`, ref);
  return [...seen.values()].sort((a, b) =>
    a.input === b.input ? a.field.localeCompare(b.field) : a.input.localeCompare(b.input),
  );
};

/** Index of the `)` closing the `(` at `open`. */
function closing(tokens: readonly Token[], open: number): number {
  const depth = tokens[open]!.depth;
  for (let i = open + 1; i < tokens.length; i++)
    if (tokens[i]!.text === ')' && tokens[i]!.depth === depth) return i;
  return tokens.length - 1;
}

/** Split `[start, end)` at top-level commas (relative to `depth`). */
function splitTopLevel(
  tokens: readonly Token[],
  start: number,
  end: number,
  depth: number,
): Array<[number, number]> {
  const parts: Array<[number, number]> = [];
  let from = start;
  for (let i = start; i < end; i++) {
    if (tokens[i]!.depth === depth && tokens[i]!.text === ',') {
      parts.push([from, i]);
      from = i + 1;
    }
  }
  if (from < end) parts.push([from, end]);
  return parts;
}

/**
 * Column lineage read from the query text, or undefined when the text is beyond what this reads
 * (then the caller reports no lineage rather than a wrong one). Resolves CTEs, derived tables,
 * window TVFs (`TABLE(TUMBLE(TABLE x, DESCRIPTOR(ts), ...))`: window_start/end/time come from the
 * time column), `*` and `alias.*`, and unqualified names unique across the FROM clause.
 */
export function lineageFromText(sql: string, inputs: readonly LineageInput[]): TextLineage[] | undefined {
  let tokens: Token[];
  try {
    tokens = tokenize(sql).filter((t) => t.kind !== 'hint');
  } catch {
    return undefined;
  }
  while (tokens.length > 0 && tokens[tokens.length - 1]?.text === ';') tokens.pop();
  const environment = new Map<string, Relation['columns']>(
    inputs.map((input) => [
      input.alias.toLowerCase(),
      input.fields.map((field) => ({ name: field, from: [{ input: input.alias, field }], direct: true })),
    ]),
  );
  try {
    return queryColumns(tokens, 0, tokens.length, environment).map((c) => ({
      column: c.name,
      from: uniqueRefs(c.from),
      direct: c.direct,
    }));
  } catch (error) {
    if (error instanceof SqlTextError) return undefined;
    throw error;
  }
}

/** The output columns of the query in `[start, end)`: `WITH ...`, set operations, one SELECT. */
function queryColumns(
  tokens: readonly Token[],
  start: number,
  end: number,
  outer: Environment,
): Relation['columns'] {
  // Parenthesised query: `(SELECT ...)`
  while (tokens[start]?.text === '(' && closing(tokens, start) === end - 1) {
    start++;
    end--;
  }
  const depth = tokens[start]?.depth ?? 0;
  const environment = new Map(outer);
  let i = start;
  if (tokens[i]?.text === 'WITH') {
    i++;
    for (;;) {
      const name = tokens[i];
      if (!isName(name)) throw new SqlTextError('a WITH item has no name');
      i++;
      let renamed: string[] | undefined;
      if (tokens[i]?.text === '(') {
        const close = closing(tokens, i);
        renamed = splitTopLevel(tokens, i + 1, close, depth + 1).map(([a]) => nameOf(tokens[a]!));
        i = close + 1;
      }
      if (tokens[i]?.text !== 'AS' || tokens[i + 1]?.text !== '(')
        throw new SqlTextError('WITH name AS (...)');
      const close = closing(tokens, i + 1);
      const columns = queryColumns(tokens, i + 2, close, environment);
      environment.set(
        nameOf(name).toLowerCase(),
        renamed ? columns.map((c, k) => ({ ...c, name: renamed[k] ?? c.name })) : columns,
      );
      i = close + 1;
      if (tokens[i]?.text === ',') i++;
      else break;
    }
  }
  // Set operations: each branch gives the same number of columns; lineage merges by position.
  const branches: Array<[number, number]> = [];
  let from = i;
  for (let k = i; k < end; k++) {
    const t = tokens[k]!;
    if (t.depth === depth && t.kind === 'word' && setOperators.has(t.text)) {
      branches.push([from, k]);
      k++;
      while (tokens[k]?.text === 'ALL' || tokens[k]?.text === 'DISTINCT') k++;
      from = k;
      k--;
    }
  }
  branches.push([from, end]);
  const results = branches.map(([a, b]) => selectColumns(tokens, a, b, environment));
  const first = results[0]!;
  return first.map((column, k) => ({
    name: column.name,
    from: results.flatMap((result) => result[k]?.from ?? []),
    direct: results.every((result) => result[k]?.direct === true),
  }));
}

/** One `SELECT ... FROM ...` (or a parenthesised query). */
function selectColumns(
  tokens: readonly Token[],
  start: number,
  end: number,
  environment: Environment,
): Relation['columns'] {
  if (tokens[start]?.text === '(') return queryColumns(tokens, start, end, environment);
  if (tokens[start]?.text === 'WITH') return queryColumns(tokens, start, end, environment);
  if (tokens[start]?.text !== 'SELECT') throw new SqlTextError('not a SELECT');
  const depth = tokens[start].depth;
  let fromAt = end;
  for (let k = start + 1; k < end; k++) {
    if (tokens[k]!.depth === depth && tokens[k]!.text === 'FROM') {
      fromAt = k;
      break;
    }
  }
  const relations = fromAt < end ? fromRelations(tokens, fromAt + 1, end, depth, environment) : [];
  let listStart = start + 1;
  if (tokens[listStart]?.text === 'DISTINCT' || tokens[listStart]?.text === 'ALL') listStart++;
  const columns: Relation['columns'] = [];
  for (const [a, b] of splitTopLevel(tokens, listStart, fromAt, depth)) {
    columns.push(...selectItem(tokens.slice(a, b), depth, relations, columns.length));
  }
  return columns;
}

/** The relations of a FROM clause (joins, comma lists, derived tables, CTEs, window TVFs). */
function fromRelations(
  tokens: readonly Token[],
  start: number,
  end: number,
  depth: number,
  environment: Environment,
): Relation[] {
  const relations: Relation[] = [];
  let expectRelation = true;
  for (let i = start; i < end; i++) {
    const t = tokens[i]!;
    if (t.depth !== depth) continue;
    if (
      t.kind === 'word' &&
      ['WHERE', 'GROUP', 'HAVING', 'ORDER', 'LIMIT', 'WINDOW', 'QUALIFY'].includes(t.text)
    )
      break;
    if (t.kind === 'word' && setOperators.has(t.text)) break;
    if (t.text === ',' || (t.kind === 'word' && t.text === 'JOIN')) {
      expectRelation = true;
      continue;
    }
    if (!expectRelation) continue;
    if (
      t.kind === 'word' &&
      ['LATERAL', 'LEFT', 'RIGHT', 'INNER', 'FULL', 'CROSS', 'OUTER', 'NATURAL'].includes(t.text)
    )
      continue;
    let columns: Relation['columns'];
    let alias: string;
    let next: number;
    if (t.text === '(') {
      const close = closing(tokens, i);
      columns = queryColumns(tokens, i + 1, close, environment);
      alias = '';
      next = close + 1;
    } else if (t.kind === 'word' && t.text === 'TABLE' && tokens[i + 1]?.text === '(') {
      const close = closing(tokens, i + 1);
      columns = tableFunctionColumns(tokens, i + 2, close, environment);
      alias = '';
      next = close + 1;
    } else if (isName(t)) {
      // `catalog.db.table` is not an input: only aliases exist in the guard's session.
      let k = i;
      while (tokens[k + 1]?.text === '.' && isName(tokens[k + 2])) k += 2;
      const name = nameOf(tokens[k]!);
      const known = environment.get(name.toLowerCase());
      if (!known) throw new SqlTextError(`unknown relation ${name}`);
      columns = known;
      alias = name;
      next = k + 1;
    } else {
      throw new SqlTextError(`unexpected '${t.raw}' in FROM`);
    }
    // `FOR SYSTEM_TIME AS OF expr [AS alias]` (a lookup join): skip to the alias.
    if (tokens[next]?.text === 'FOR') {
      let k = next + 1;
      while (k < end) {
        const at = tokens[k]!;
        if (at.depth === depth && at.text === 'AS' && tokens[k + 1]?.text !== 'OF') break;
        if (
          at.depth === depth &&
          (at.text === ',' || (at.kind === 'word' && clauseWords.has(at.text) && at.text !== 'FOR'))
        )
          break;
        k++;
      }
      next = k;
    }
    if (tokens[next]?.text === 'AS') next++;
    const aliasToken = tokens[next];
    if (
      next < end &&
      isName(aliasToken) &&
      !(aliasToken.kind === 'word' && clauseWords.has(aliasToken.text))
    ) {
      alias = nameOf(aliasToken);
      next++;
      if (tokens[next]?.text === '(') {
        // `AS t (a, b, c)` renames the columns.
        const close = closing(tokens, next);
        const names = splitTopLevel(tokens, next + 1, close, depth + 1).map(([a]) => nameOf(tokens[a]!));
        columns = columns.map((c, k) => ({ ...c, name: names[k] ?? c.name }));
        next = close + 1;
      }
    }
    relations.push({ alias, columns });
    expectRelation = false;
    i = next - 1;
  }
  return relations;
}

/** `TUMBLE(TABLE x, DESCRIPTOR(ts), ...)` (HOP, CUMULATE, SESSION alike): x's columns and the window's. */
function tableFunctionColumns(
  tokens: readonly Token[],
  start: number,
  end: number,
  environment: Environment,
): Relation['columns'] {
  const open = start + 1;
  if (!isName(tokens[start]) || tokens[open]?.text !== '(') throw new SqlTextError('not a table function');
  const close = closing(tokens, open);
  const depth = tokens[open].depth + 1;
  const args = splitTopLevel(tokens, open + 1, close, depth);
  const [firstStart, firstEnd] = args[0] ?? [0, 0];
  let input: Relation['columns'] | undefined;
  if (tokens[firstStart]?.text === 'TABLE') {
    const name = tokens[firstStart + 1];
    if (isName(name)) input = environment.get(nameOf(name).toLowerCase());
    else if (name?.text === '(')
      input = queryColumns(tokens, firstStart + 2, closing(tokens, firstStart + 1), environment);
  } else if (tokens[firstStart]?.text === '(') {
    input = queryColumns(tokens, firstStart + 1, firstEnd - 1, environment);
  }
  if (!input) throw new SqlTextError('a table function over an unknown table');
  let timeFrom: FieldRef[] = [];
  for (const [a] of args) {
    if (tokens[a]?.text === 'DESCRIPTOR' && tokens[a + 1]?.text === '(') {
      const name = tokens[a + 2];
      const column = isName(name)
        ? input.find((c) => c.name.toLowerCase() === nameOf(name).toLowerCase())
        : undefined;
      if (column) timeFrom = [...timeFrom, ...column.from];
    }
  }
  void end;
  return [...input, ...windowColumns.map((name) => ({ name, from: timeFrom, direct: false }))];
}

/** One select-list item: its output name(s) and the input fields it reads. */
function selectItem(
  item: readonly Token[],
  depth: number,
  relations: readonly Relation[],
  position: number,
): Relation['columns'] {
  // `*` and `alias.*`
  if (item.length === 1 && item[0]!.text === '*') return relations.flatMap((r) => r.columns);
  if (item.length === 3 && isName(item[0]) && item[1]!.text === '.' && item[2]!.text === '*') {
    const relation = relations.find((r) => r.alias.toLowerCase() === nameOf(item[0]!).toLowerCase());
    if (!relation) throw new SqlTextError(`unknown relation ${nameOf(item[0])}`);
    return relation.columns;
  }
  let expression = [...item];
  let name: string | undefined;
  const last = expression.at(-1);
  const beforeLast = expression.at(-2);
  if (isName(last) && last.depth === depth && beforeLast?.text === 'AS' && beforeLast.depth === depth) {
    name = nameOf(last);
    expression = expression.slice(0, -2);
  } else if (
    isName(last) &&
    beforeLast &&
    last.depth === depth &&
    !(last.kind === 'word' && notAliases.has(last.text)) &&
    beforeLast.text !== '.' &&
    (beforeLast.text === ')' ||
      beforeLast.kind === 'string' ||
      beforeLast.kind === 'number' ||
      isName(beforeLast)) &&
    !(
      beforeLast.kind === 'word' &&
      ['AS', 'INTERVAL', 'CASE', 'THEN', 'ELSE', 'WHEN', 'AND', 'OR', 'NOT', 'IS'].includes(beforeLast.text)
    )
  ) {
    name = nameOf(last); // `expr alias`
    expression = expression.slice(0, -1);
  }
  const from: FieldRef[] = [];
  let plainColumn: string | undefined;
  let direct = false;
  for (let i = 0; i < expression.length; i++) {
    const t = expression[i]!;
    if (!isName(t)) continue;
    if (expression[i + 1]?.text === '(') continue; // a function
    if (expression[i - 1]?.text === '.') continue; // read with its qualifier
    if (expression[i + 1]?.text === '.' && isName(expression[i + 2])) {
      const relation = relations.find((r) => r.alias.toLowerCase() === nameOf(t).toLowerCase());
      const columnName = nameOf(expression[i + 2]!);
      const column = relation?.columns.find((c) => c.name.toLowerCase() === columnName.toLowerCase());
      if (column) from.push(...column.from);
      if (expression.length === 3) {
        plainColumn = columnName;
        direct = column?.direct ?? false;
      }
      continue;
    }
    // An unqualified name is a column of the one relation that has it (words that are no column,
    // such as keywords, match nothing).
    const matches = relations.flatMap((r) =>
      r.columns.filter((c) => c.name.toLowerCase() === nameOf(t).toLowerCase()),
    );
    for (const match of matches) from.push(...match.from);
    if (expression.length === 1 && matches.length > 0) {
      plainColumn = matches[0]!.name;
      direct = matches.every((match) => match.direct);
    }
  }
  // Flink names an unnamed expression EXPR$<position>.
  return [{ name: name ?? plainColumn ?? `EXPR$${position}`, from, direct }];
}
