/**
 * Column lineage as Flink's own planner sees a query: read from the abstract syntax tree that
 * `EXPLAIN` prints (Calcite's logical plan, views expanded, before optimization), in the same
 * session declarations the job uses. This is what the SQL guard trusts for what a query reads and
 * what each output column is computed from; the query's text is only checked against it.
 *
 * - Every input is read through its declared view: the view's subtree is recognised by the exact
 *   text Flink prints for `SELECT * FROM <alias>` in the same session (`viewSignatureOf`). A table
 *   scan anywhere else in the plan (the raw source table behind an input, any other table) is
 *   refused.
 * - Each output column's origins are the input fields its value is computed from, through every
 *   projection, join, aggregate, set operation and window function. Filters, join conditions and
 *   grouping decide which rows flow, not what a value holds: they add no origin (see
 *   docs/trust-model.md, "out of scope").
 * - An origin is "hashed" when every path from it to the column goes through SHA2 (SHA224/256/384/
 *   512), "truncated" through LEFT/RIGHT(x, n ≤ 4), "nullness" through IS [NOT] NULL (only whether
 *   there is a value); otherwise it is "raw". The most protective function around a path counts.
 * - What this reader does not know (a node it does not trace, a sub-query computing a value,
 *   LATERAL/correlation, MATCH_RECOGNIZE, VALUES) is refused with the reason: lineage that cannot
 *   be established is never assumed. Pure.
 */

export class PlanLineageError extends Error {}

/** How an input field reaches an output column. */
export type Via = 'raw' | 'truncate' | 'hash' | 'nullness';
export type PlanOrigin = Readonly<{ input: string; field: string; via: Via }>;
export type PlanColumn = Readonly<{ name: string; from: readonly PlanOrigin[] }>;
export type PlanLineage = Readonly<{ columns: readonly PlanColumn[]; inputsRead: readonly string[] }>;

/** A declared input as its view's subtree: what the plan reads when the query reads the alias. */
export type ViewSignature = Readonly<{ alias: string; fields: readonly string[]; subtree: string }>;

type PlanNode = {
  name: string;
  /** The node's text without its tree prefix (for signatures). */
  text: string;
  attrs: Array<[string, string]>;
  children: PlanNode[];
};

/** Longest truncation (characters) that LEFT/RIGHT may keep to count as `truncate` masking. */
export const TRUNCATE_MAX_CHARS = 4;
const hashFunctions = new Set(['SHA2', 'SHA224', 'SHA256', 'SHA384', 'SHA512']);
const windowFunctions = new Set(['TUMBLE', 'HOP', 'CUMULATE', 'SESSION']);

/** The `== Abstract Syntax Tree ==` section of an EXPLAIN result. */
export function abstractSyntaxTree(explained: string): string {
  const marker = '== Abstract Syntax Tree ==';
  const start = explained.indexOf(marker);
  if (start === -1) throw new PlanLineageError('Flink printed no abstract syntax tree for the query');
  const from = start + marker.length;
  const end = explained.indexOf('\n== Optimized', from);
  return explained.slice(from, end === -1 ? undefined : end);
}

/** Index just past the quote closing the one at `from` (`''` is an escaped quote). */
function pastQuote(text: string, from: number): number {
  let i = from + 1;
  for (;;) {
    const at = text.indexOf("'", i);
    if (at === -1) throw new PlanLineageError('the plan holds a string that is not closed');
    if (text[at + 1] === "'") i = at + 2;
    else return at + 1;
  }
}

/** Bracket depth change of a stretch of plan text, quotes skipped. */
function depthAfter(text: string, depth: number): number {
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "'") {
      i = pastQuote(text, i) - 1;
    } else if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') depth--;
  }
  return depth;
}

/** Index of the bracket closing the one at `open`. */
function closingBracket(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    const c = text[i]!;
    if (c === "'") i = pastQuote(text, i) - 1;
    else if (c === '(' || c === '[' || c === '{') depth++;
    else if ((c === ')' || c === ']' || c === '}') && --depth === 0) return i;
  }
  throw new PlanLineageError('the plan holds a bracket that is not closed');
}

/** Split at top-level commas. */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let from = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "'") i = pastQuote(text, i) - 1;
    else if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') depth--;
    else if (c === ',' && depth === 0) {
      parts.push(text.slice(from, i).trim());
      from = i + 1;
    }
  }
  const last = text.slice(from).trim();
  if (last !== '' || parts.length > 0) parts.push(last);
  return parts;
}

function parseNode(text: string): PlanNode {
  const open = text.indexOf('(');
  if (!/^[A-Za-z]\w*$/.test(open === -1 ? text : text.slice(0, open)))
    throw new PlanLineageError(`the plan holds a node the guard cannot read: ${text.slice(0, 80)}`);
  if (open === -1) return { name: text, text, attrs: [], children: [] };
  const close = closingBracket(text, open);
  if (text.slice(close + 1).trim() !== '')
    throw new PlanLineageError(`the plan holds a node the guard cannot read: ${text.slice(0, 80)}`);
  const attrs = splitTopLevel(text.slice(open + 1, close)).map((part): [string, string] => {
    const eq = part.indexOf('=[');
    if (eq === -1 || !part.endsWith(']'))
      throw new PlanLineageError(`the plan holds an attribute the guard cannot read: ${part.slice(0, 80)}`);
    return [part.slice(0, eq), part.slice(eq + 2, -1)];
  });
  return { name: text.slice(0, open), text, attrs, children: [] };
}

/** The plan tree printed by Calcite (`+- ` / `:- ` prefixes, or a sub-query's plain indentation). */
export function parsePlan(text: string): PlanNode {
  const entries: Array<{ column: number; text: string }> = [];
  let pending: { column: number; text: string } | undefined;
  let depth = 0;
  for (const line of text.split('\n')) {
    if (pending) {
      pending.text += `\n${line}`;
    } else {
      if (line.trim() === '') continue;
      const prefix = /^[ :+|-]*/.exec(line)![0];
      pending = { column: prefix.length, text: line.slice(prefix.length).trimEnd() };
      depth = 0;
      depth = depthAfter(pending.text, depth);
      if (depth === 0) {
        entries.push(pending);
        pending = undefined;
      }
      continue;
    }
    depth = depthAfter(`\n${line}`, depth);
    if (depth === 0) {
      entries.push({ column: pending.column, text: pending.text.trimEnd() });
      pending = undefined;
    }
  }
  if (pending || entries.length === 0) throw new PlanLineageError('the plan is incomplete');
  const stack: Array<{ column: number; node: PlanNode }> = [];
  let root: PlanNode | undefined;
  for (const entry of entries) {
    const node = parseNode(entry.text);
    while (stack.length > 0 && stack[stack.length - 1]!.column >= entry.column) stack.pop();
    if (stack.length === 0) {
      if (root) throw new PlanLineageError('the plan has more than one root');
      root = node;
    } else stack[stack.length - 1]!.node.children.push(node);
    stack.push({ column: entry.column, node });
  }
  return root!;
}

const canonical = (node: PlanNode): string =>
  [node.text, ...node.children.map((child) => canonical(child).replace(/^/gm, '  '))].join('\n');

/**
 * The subtree of an input's view in the plan of `SELECT * FROM <alias>`: the projection of the
 * view over its filter (and watermark, computed columns and the source table's scan).
 */
export function viewSignatureOf(
  explained: string,
  input: Readonly<{ alias: string; fields: readonly string[] }>,
): ViewSignature {
  const find = (node: PlanNode): PlanNode | undefined =>
    node.name === 'LogicalProject' && node.children.length === 1 && node.children[0]!.name === 'LogicalFilter'
      ? node
      : node.children.map(find).find((found) => found !== undefined);
  const view = find(parsePlan(abstractSyntaxTree(explained)));
  if (!view || view.attrs.map(([name]) => name).join(',') !== input.fields.join(','))
    throw new PlanLineageError(`the plan of input '${input.alias}' is not the view the guard declared`);
  return { alias: input.alias, fields: input.fields, subtree: canonical(view) };
}

// ---------------------------------------------------------------------------------------------
// Values: the origins of one column, keyed `via \0 input \0 field`.

type Value = ReadonlySet<string>;
const key = (via: Via, input: string, field: string) => `${via}\u0000${input}\u0000${field}`;
const strength: Readonly<Record<Via, number>> = { raw: 0, truncate: 1, hash: 2, nullness: 3 };

function launder(value: Value, via: Via | undefined): Value {
  if (!via) return value;
  return new Set(
    [...value].map((entry) => {
      const [from, input, field] = entry.split('\u0000') as [Via, string, string];
      return key(strength[from] >= strength[via] ? from : via, input, field);
    }),
  );
}

const union = (values: Iterable<Value>): Value => {
  const all = new Set<string>();
  for (const value of values) for (const entry of value) all.add(entry);
  return all;
};

/** The masking a call applies to its arguments, if it is one of the declared masking functions. */
function maskingOf(name: string, args: readonly string[]): Via | undefined {
  // `IS NULL(x)`, `IS NOT NULL(x)` of a column as it is: only whether there is a value (not of an
  // expression: `NULLIF(x, 'a') IS NULL` tells whether x is 'a').
  if (name === 'NULL')
    return /^(\$\d+|CAST\(\$\d+\)(:[\w() ,"-]+)?)$/.test(args[0]?.trim() ?? '') ? 'nullness' : undefined;
  if (hashFunctions.has(name)) return 'hash';
  if ((name === 'LEFT' || name === 'RIGHT') && args.length === 2) {
    const length = /^(\d+)(:\w+)?$/.exec(args[1]!.trim());
    if (length && Number(length[1]) <= TRUNCATE_MAX_CHARS) return 'truncate';
  }
  return undefined;
}

/** Sub-query plans held by an expression (`{` + newline ... `}`). */
function subQueriesOf(expression: string): string[] {
  const found: string[] = [];
  for (let i = 0; i < expression.length; i++) {
    const c = expression[i]!;
    if (c === "'") i = pastQuote(expression, i) - 1;
    else if (c === '{' && expression[i + 1] === '\n') {
      const close = closingBracket(expression, i);
      found.push(expression.slice(i + 2, close));
      i = close;
    }
  }
  return found;
}

/** The origins of an expression over its input's columns (`$n`), with the masking around each. */
function expressionValue(expression: string, inputs: readonly Value[]): Value {
  const values: Value[] = [];
  const frames: Array<{ close: number; via: Via | undefined }> = [];
  for (let i = 0; i < expression.length; i++) {
    const c = expression[i]!;
    while (frames.length > 0 && frames[frames.length - 1]!.close < i) frames.pop();
    if (c === "'") {
      i = pastQuote(expression, i) - 1;
    } else if (c === '(') {
      const close = closingBracket(expression, i);
      const name = (/([A-Za-z_]\w*)\s*$/.exec(expression.slice(0, i))?.[1] ?? '').toUpperCase();
      frames.push({ close, via: maskingOf(name, splitTopLevel(expression.slice(i + 1, close))) });
    } else if (c === '$') {
      const ref = /^\$(\d+)/.exec(expression.slice(i));
      if (!ref) continue; // $cor0.x (a correlation), $SCALAR_QUERY ...: not an input column
      const index = Number(ref[1]);
      const column = inputs[index];
      if (!column) throw new PlanLineageError(`the plan refers to column $${index}, which its input lacks`);
      const via = frames.reduce<Via | undefined>(
        (best, frame) => (frame.via && (!best || strength[frame.via] > strength[best]) ? frame.via : best),
        undefined,
      );
      values.push(launder(column, via));
      i += ref[0].length - 1;
    }
  }
  return union(values);
}

type Context = { views: ReadonlyMap<string, ViewSignature>; read: Set<string> };

const attr = (node: PlanNode, name: string) => node.attrs.find(([key]) => key === name)?.[1];

/** Sub-queries in conditions only choose rows: their plans are still read (what they scan). */
function readConditions(node: PlanNode, context: Context): void {
  for (const [, value] of node.attrs)
    for (const plan of subQueriesOf(value)) evaluate(parsePlan(plan), context);
}

function only(node: PlanNode): PlanNode {
  if (node.children.length !== 1)
    throw new PlanLineageError(`the plan's ${node.name} has ${node.children.length} inputs, not one`);
  return node.children[0]!;
}

function projectColumns(node: PlanNode, context: Context): Value[] {
  const input = evaluate(only(node), context);
  return node.attrs.map(([name, expression]) => {
    if (subQueriesOf(expression).length > 0)
      throw new PlanLineageError(
        `the column '${name}' is computed by a sub-query, whose lineage the guard does not trace: write it as a JOIN`,
      );
    return expressionValue(expression, input);
  });
}

function aggregateColumns(node: PlanNode, context: Context): Value[] {
  const input = evaluate(only(node), context);
  const group = attr(node, 'group');
  if (group === undefined) throw new PlanLineageError('the plan has an aggregate without its grouping');
  const keys = [...group.matchAll(/\d+/g)].map((m) => input[Number(m[0])] ?? new Set<string>());
  const calls = node.attrs.filter(([name]) => name !== 'group' && name !== 'groups');
  return [...keys, ...calls.map(([, call]) => expressionValue(call, input))];
}

function windowColumns(node: PlanNode, context: Context): Value[] {
  const invocation = attr(node, 'invocation') ?? '';
  const fn = /^([A-Z_]+)\(/.exec(invocation)?.[1] ?? '';
  if (!windowFunctions.has(fn))
    throw new PlanLineageError(
      `the plan calls the table function ${fn || invocation.slice(0, 40)}, whose lineage the guard does not trace`,
    );
  const input = evaluate(only(node), context);
  const descriptors = [...invocation.matchAll(/DESCRIPTOR\(([^)]*)\)/g)].map((m) => m[1]!);
  const time = union(descriptors.map((d) => expressionValue(d, input)));
  const rowType = /^RecordType\((.*)\)$/s.exec(attr(node, 'rowType') ?? '')?.[1];
  const width = rowType === undefined ? -1 : splitTopLevel(rowType).length;
  if (width !== input.length + 3)
    throw new PlanLineageError(`the window function ${fn} yields columns the guard cannot place`);
  return [...input, time, time, time];
}

function passThrough(node: PlanNode, context: Context): Value[] {
  readConditions(node, context);
  return evaluate(only(node), context);
}

function joinColumns(node: PlanNode, context: Context): Value[] {
  readConditions(node, context);
  if (node.children.length !== 2) throw new PlanLineageError('the plan has a join without two inputs');
  const [left, right] = node.children.map((child) => evaluate(child, context)) as [Value[], Value[]];
  return ['semi', 'anti'].includes(attr(node, 'joinType') ?? '') ? left : [...left, ...right];
}

function setColumns(node: PlanNode, context: Context): Value[] {
  const branches = node.children.map((child) => evaluate(child, context));
  const width = branches[0]?.length ?? 0;
  if (branches.some((branch) => branch.length !== width))
    throw new PlanLineageError(`the plan's ${node.name} has branches of different widths`);
  return Array.from({ length: width }, (_, k) => union(branches.map((branch) => branch[k]!)));
}

function tableScan(node: PlanNode): never {
  const table = /^\[([^\]]*)\]/.exec(attr(node, 'table') ?? '')?.[1] ?? '?';
  throw new PlanLineageError(
    `the plan reads the table ${table.split(', ').slice(0, 3).join('.')} other than through a declared input's view`,
  );
}

/** The nodes whose lineage is traced; anything else is refused. */
const nodeColumns: Readonly<Record<string, (node: PlanNode, context: Context) => Value[]>> = {
  LogicalTableScan: tableScan,
  LogicalProject: projectColumns,
  LogicalFilter: passThrough,
  LogicalWatermarkAssigner: passThrough,
  LogicalSort: passThrough,
  LogicalSnapshot: passThrough,
  LogicalSink: passThrough,
  LogicalJoin: joinColumns,
  LogicalAggregate: aggregateColumns,
  LogicalUnion: setColumns,
  LogicalIntersect: setColumns,
  LogicalMinus: setColumns,
  LogicalTableFunctionScan: windowColumns,
};

function evaluate(node: PlanNode, context: Context): Value[] {
  const view = context.views.get(canonical(node));
  if (view) {
    context.read.add(view.alias);
    return view.fields.map((field) => new Set([key('raw', view.alias, field)]));
  }
  const columns = Object.hasOwn(nodeColumns, node.name) ? nodeColumns[node.name] : undefined;
  if (!columns)
    throw new PlanLineageError(
      `the plan holds ${node.name}, whose lineage the guard does not trace (LATERAL, UNNEST, MATCH_RECOGNIZE and VALUES are not supported)`,
    );
  return columns(node, context);
}

/**
 * Column lineage of an EXPLAIN result (of the job's INSERT or of a SELECT). Throws
 * PlanLineageError, with the reason, when lineage cannot be established.
 */
export function planLineage(explained: string, views: readonly ViewSignature[]): PlanLineage {
  const root = parsePlan(abstractSyntaxTree(explained));
  const context: Context = { views: new Map(views.map((view) => [view.subtree, view])), read: new Set() };
  const values = evaluate(root, context);
  const names =
    root.name === 'LogicalSink'
      ? splitTopLevel(attr(root, 'fields') ?? '')
      : root.name === 'LogicalProject'
        ? root.attrs.map(([name]) => name)
        : [];
  if (names.length !== values.length)
    throw new PlanLineageError("the plan's output columns could not be named");
  return {
    columns: names.map((name, k) => ({
      name,
      from: [...values[k]!]
        .map((entry) => {
          const [via, input, field] = entry.split('\u0000') as [Via, string, string];
          return { input, field, via };
        })
        .sort((a, b) =>
          a.input === b.input
            ? a.field === b.field
              ? a.via.localeCompare(b.via)
              : a.field.localeCompare(b.field)
            : a.input.localeCompare(b.input),
        ),
    })),
    inputsRead: [...context.read].sort(),
  };
}
