import { inputAliasOf } from '../domain/creation';
import { quoteIdentifier as q, quoteLiteral } from '../domain/flink-types';
import type { FieldType, ProductInput, maskingStrategies } from '../domain/spec';
import type { PiiKind } from '../profile/pii';
import type { FieldProfile, ProfiledType, TopicProfile } from '../profile/types';
import type { Draft, ProfileIndex } from './drafts';
import { findJoinKeys } from './join-keys';

/**
 * The Flink SQL of a drafted product, written from the draft's fields (each says which profiled
 * field it comes from) and the masking its profiles imply. Deterministic and pure: the same draft
 * and profiles give the same text, so the approver reads exactly what will run.
 * - every input is named by an alias; a topic input declares the columns the SQL reads, typed from
 *   its profile, with the profile's event time as a `timestamp` (epoch milliseconds included);
 * - one input: a typed projection, personal fields masked with Flink built-in functions;
 * - two inputs: an inner interval join on the key they share, within ±1 h of event time;
 * Output column types are what Flink infers for the SQL; where a draft said otherwise, the plan
 * says what the SQL yields and the spec takes that.
 */

export type MaskingStrategy = Exclude<(typeof maskingStrategies)[number], 'none'>;
/** A masked output column; the PII kind picks what `truncate` keeps (the last 4 digits of a card). */
export type ColumnMask = Readonly<{ field: string; strategy: MaskingStrategy; kind?: PiiKind }>;

export type PlannedField = Readonly<{ name: string; type: FieldType; nullable: boolean }>;
export type PlannedSql = Readonly<{
  inputs: ProductInput[];
  sql: string;
  /** Every output column in draft order, typed as the SQL yields it. */
  fields: readonly PlannedField[];
  /** Set for joined products: what the join keeps, for the description. */
  join?: Readonly<{ parent: string; child: string; on: string; window: string }>;
}>;

/** How far apart two joined records' event times may be. */
export const JOIN_WINDOW = { sql: "INTERVAL '1' HOUR", text: '±1 h' } as const;

/** A profiled type as a spec type (arrays are kept as JSON text). */
export function specTypeOf(type: ProfiledType): FieldType {
  switch (type) {
    case 'long':
    case 'double':
    case 'boolean':
    case 'timestamp':
    case 'string':
    case 'json':
      return type;
    case 'array':
      return 'json';
    default:
      return 'string';
  }
}

/**
 * A profiled field as an input column. Epoch seconds are read as a number and converted in the
 * SELECT: the input views parse ISO-8601 text and epoch milliseconds as timestamps, not seconds.
 */
function inputTypeOf(field: FieldProfile): FieldType {
  if (field.type === 'timestamp' && field.timeUnit === 's') return 'long';
  return specTypeOf(field.type);
}

/** The event-time field of a profile, when the input views can read it as a timestamp. */
function rowtimeOf(profile: TopicProfile): string | undefined {
  const field = profile.fields.find((f) => f.name === profile.eventTimeField);
  return field && field.type === 'timestamp' && field.timeUnit !== 's' ? field.name : undefined;
}

/** The expression of a masked value and its type (every strategy yields text). */
export function maskedExpression(value: string, valueType: FieldType, mask: ColumnMask, productId: string) {
  const text = valueType === 'string' ? value : `CAST(${value} AS STRING)`;
  switch (mask.strategy) {
    case 'hash':
      // SHA256 is typed CHAR(64): the cast keeps the column a STRING like the spec says.
      return `CAST(SHA256(${text}) AS STRING)`;
    case 'redact':
      // Nothing of the value is kept; only whether there was one.
      return `CASE WHEN ${value} IS NULL THEN CAST(NULL AS STRING) ELSE 'REDACTED' END`;
    case 'tokenize':
      // Stable within the product (joins and counts still work), not reversible, and different
      // from another product's token of the same value (salted with the product id).
      return `CONCAT('tok_', SUBSTR(SHA256(CONCAT(${quoteLiteral(`${productId}:`)}, ${text})), 1, 16))`;
    case 'truncate':
      if (mask.kind === 'cardNumber')
        return `CONCAT('****', RIGHT(REGEXP_REPLACE(${text}, '[^0-9]', ''), 4))`;
      // A date of birth keeps its year: `1984-**-**`.
      if (mask.kind === 'dateOfBirth') return `CONCAT(SUBSTR(${text}, 1, 4), '-**-**')`;
      return `CONCAT(SUBSTR(${text}, 1, 1), '***')`;
  }
}

/** A profiled field read by the SQL; `type` is the value's (epoch seconds are converted to a timestamp). */
type Source = Readonly<{
  alias: string;
  column: string;
  type: FieldType;
  nullable: boolean;
  seconds: boolean;
}>;

/** A column is read by its JSON path (`$.a.b`): only plain, dotted names make one. */
export function isPlainPath(name: string): boolean {
  return /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/.test(name);
}

/** A unique alias per input: `as` from the name, else the whole topic name, else numbered. */
function aliasesOf(
  draft: Pick<Draft, 'inputs' | 'products'>,
): Map<string, { input: ProductInput; alias: string }> {
  const taken = new Set<string>();
  const result = new Map<string, { input: ProductInput; alias: string }>();
  for (const topic of draft.inputs) {
    const product = draft.products?.[topic];
    const bare: ProductInput = product ? { product } : { topic };
    let alias = inputAliasOf(bare);
    if (taken.has(alias)) alias = inputAliasOf({ topic: topic.replace(/\./g, '_') });
    for (let n = 2; taken.has(alias); n++) alias = `${inputAliasOf(bare).slice(0, 58)}_${n}`;
    taken.add(alias);
    result.set(topic, { input: { ...bare, as: alias }, alias });
  }
  return result;
}

/**
 * The inputs of a draft with their aliases; a topic input declares `fieldsRead` of each topic (all
 * its profiled fields when not given: for SQL written by someone else) and its event time.
 */
export function planInputs(
  draft: Pick<Draft, 'inputs' | 'products'>,
  profiles: ProfileIndex,
  fieldsRead?: ReadonlyMap<string, ReadonlySet<string>>,
): ProductInput[] {
  const aliases = aliasesOf(draft);
  return draft.inputs.map((topic) => {
    const { input } = aliases.get(topic)!;
    const profile = profiles.get(topic)?.profile;
    if ('product' in input || !profile) return input;
    const rowtime = rowtimeOf(profile);
    const read = fieldsRead?.get(topic);
    const fields = profile.fields
      .filter(
        (f) =>
          f.type !== 'null' && isPlainPath(f.name) && (read ? read.has(f.name) || f.name === rowtime : true),
      )
      .slice(0, 1000)
      .map((f) => ({ name: f.name, type: f.name === rowtime ? ('timestamp' as const) : inputTypeOf(f) }));
    if (fields.length === 0) return input;
    return {
      ...input,
      // A registry topic in Avro is read with its registered schema (Flink's avro-confluent format).
      ...(profile.format?.kind === 'avro' ? { format: 'avro' as const } : {}),
      schema: { fields, ...(rowtime ? { eventTimeField: rowtime } : {}) },
    };
  });
}

/**
 * The SQL of a draft. Problems (a field from no input, more than two inputs, two inputs with no
 * shared key or no event times) say why no SQL could be written: such a draft needs its own SQL.
 */
export function planSql(
  draft: Draft,
  masking: readonly ColumnMask[],
  profiles: ProfileIndex,
): { plan: PlannedSql } | { problems: string[] } {
  const productId = `${draft.domain}.${draft.name}`;
  const aliases = aliasesOf(draft);
  const problems: string[] = [];
  const read = new Map<string, Set<string>>(draft.inputs.map((t) => [t, new Set<string>()]));
  const sourceOf = (topic: string, field: string): Source | undefined => {
    const found = profiles.get(topic)?.fields.get(field);
    const alias = aliases.get(topic)?.alias;
    if (!found || !alias) return undefined;
    read.get(topic)?.add(field);
    return {
      alias,
      column: field,
      type: specTypeOf(found.type),
      nullable: found.nullRatio > 0,
      seconds: found.type === 'timestamp' && found.timeUnit === 's',
    };
  };

  if (draft.inputs.length === 0 || draft.inputs.length > 2) {
    return {
      problems: [
        `inputs: the planner writes SQL for one input or a join of two, not ${draft.inputs.length}; write the SQL`,
      ],
    };
  }
  let join: (NonNullable<PlannedSql['join']> & { parentRef: Source; childRef: Source }) | undefined;
  if (draft.inputs.length === 2) {
    const [first, second] = draft.inputs as [string, string];
    const a = profiles.get(first)?.profile;
    const b = profiles.get(second)?.profile;
    if (!a || !b) return { problems: ['inputs: both inputs must be profiled to join them'] };
    const key = draft.join ?? findJoinKeys([a, b])[0];
    if (!key) {
      return {
        problems: [`inputs: ${first} and ${second} share no key (no field's values held by the other's)`],
      };
    }
    const parent = key.parent === first ? a : b;
    const child = key.parent === first ? b : a;
    const parentTime = rowtimeOf(parent);
    const childTime = rowtimeOf(child);
    if (!parentTime || !childTime) {
      return {
        problems: [
          `inputs: joining ${parent.topic} and ${child.topic} needs an event time (ISO-8601 or epoch milliseconds) on both`,
        ],
      };
    }
    const parentRef = sourceOf(parent.topic, key.parentField);
    const childRef = sourceOf(child.topic, key.childField);
    const parentAt = sourceOf(parent.topic, parentTime);
    const childAt = sourceOf(child.topic, childTime);
    if (!parentRef || !childRef || !parentAt || !childAt) {
      return { problems: [`inputs: the join key ${key.parentField} = ${key.childField} was not profiled`] };
    }
    const ref = (s: Source) => `${s.alias}.${q(s.column)}`;
    join = {
      parent: parent.topic,
      child: child.topic,
      on:
        `${ref(parentRef)} = ${ref(childRef)}\n` +
        `  AND ${ref(childAt)} BETWEEN ${ref(parentAt)} - ${JOIN_WINDOW.sql} AND ${ref(parentAt)} + ${JOIN_WINDOW.sql}`,
      window: `${JOIN_WINDOW.text} of ${parentTime}`,
      parentRef,
      childRef,
    };
  }
  const qualified = draft.inputs.length > 1;
  const columnRef = (s: Source) => (qualified ? `${s.alias}.${q(s.column)}` : q(s.column));
  const refOf = (s: Source) => (s.seconds ? `TO_TIMESTAMP_LTZ(${columnRef(s)}, 0)` : columnRef(s));
  const maskOf = new Map(masking.map((m) => [m.field, m]));
  // Only one column may stay an event-time attribute of the sink: the product's own event time.
  const rowtimeColumns = new Set(
    [...aliases].flatMap(([topic, { alias }]) => {
      const profile = profiles.get(topic)?.profile;
      const time = profile && rowtimeOf(profile);
      return time ? [`${alias}.${time}`] : [];
    }),
  );

  const columns: string[] = [];
  const fields: PlannedField[] = [];
  for (const field of draft.fields) {
    let sources = field.from
      .map((s) => sourceOf(s.topic, s.field))
      .filter((s): s is Source => s !== undefined);
    if (sources.length === 0) {
      problems.push(`field '${field.name}': none of its sources is a profiled field of an input`);
      continue;
    }
    // The join key is read from the parent: both sides hold the same value.
    if (join && sources.length > 1) {
      const onKey = (s: Source) =>
        (s.alias === join.parentRef.alias && s.column === join.parentRef.column) ||
        (s.alias === join.childRef.alias && s.column === join.childRef.column);
      if (sources.every(onKey)) sources = [join.parentRef];
    }
    const sameType = sources.every((s) => s.type === sources[0]!.type);
    let type: FieldType = sameType ? sources[0]!.type : 'string';
    let expression =
      sources.length === 1
        ? refOf(sources[0]!)
        : `COALESCE(${sources.map((s) => (sameType ? refOf(s) : `CAST(${refOf(s)} AS STRING)`)).join(', ')})`;
    // COALESCE is null only when every source is.
    const nullable = sources.every((s) => s.nullable);
    const mask = maskOf.get(field.name);
    if (mask) {
      expression = maskedExpression(expression, type, mask, productId);
      type = 'string';
    } else if (
      type === 'timestamp' &&
      field.name !== draft.eventTimeField &&
      sources.some((s) => rowtimeColumns.has(`${s.alias}.${s.column}`))
    ) {
      expression = `CAST(${expression} AS TIMESTAMP_LTZ(3))`;
    }
    // A column read as it is, under its own name, needs no `AS`.
    const bare = sources.length === 1 && expression === columnRef(sources[0]!);
    columns.push(
      bare && sources[0]!.column === field.name ? expression : `${expression} AS ${q(field.name)}`,
    );
    fields.push({ name: field.name, type, nullable });
  }
  if (problems.length > 0) return { problems };

  const inputs = planInputs(draft, profiles, read);
  const from = join
    ? `FROM ${aliases.get(join.parent)!.alias}\nJOIN ${aliases.get(join.child)!.alias}\n  ON ${join.on}`
    : `FROM ${aliases.get(draft.inputs[0]!)!.alias}`;
  const sql = `SELECT\n  ${columns.join(',\n  ')}\n${from}`;
  const plan: PlannedSql = {
    inputs,
    sql,
    fields,
    ...(join ? { join: { parent: join.parent, child: join.child, on: join.on, window: join.window } } : {}),
  };
  return { plan };
}
