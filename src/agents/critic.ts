import type {
  CostEstimate,
  Critique,
  InputRate,
  Overlap,
  ProposalPreview,
  RiskFinding,
  ValueFinding,
} from '../domain/critique';
import type { ProductSpec } from '../domain/spec';

/**
 * The deterministic critic: what a proposal would cost to run (from measured figures: the input
 * topics' rates, the profiles' key cardinalities, the preview's selectivity), whether something
 * like it exists (products and proposals over the same upstream topics with overlapping columns
 * and keys), which of the domain's business goals it serves, and its risks. Redundant, or of no
 * stated value where the domain states goals: dismissed. Pure: the activity measures, this judges.
 */

/** One input as the critic knows it: measured rate and the profile of a recent sample. */
export type InputFacts = Readonly<{
  alias: string;
  topic: string;
  /** Set when the input is another product. */
  productId?: string;
  /** The raw Kafka topics this input derives from (itself when it is one). */
  upstreamTopics: readonly string[];
  rate: InputRate;
  /** Records in the profiled sample, and each field's distinct values and presence there. */
  sampleRecords: number;
  fields: Readonly<Record<string, Readonly<{ distinct: number; present: number; personal: boolean }>>>;
  /** Seconds between the newest record's broker time and its event time, at the 95th percentile (late data). */
  lateSeconds?: number;
}>;

/** A product (or a proposal waiting for approval) the catalog holds. */
export type ExistingProduct = Readonly<{
  productId: string;
  stage: string;
  upstreamTopics: readonly string[];
  columns: readonly string[];
  keys: readonly string[];
}>;

export type CriticFacts = Readonly<{
  productId: string;
  spec: ProductSpec;
  inputs: readonly InputFacts[];
  existing: readonly ExistingProduct[];
  goals: readonly string[];
  preview?: ProposalPreview;
  /** The product job's parallelism (task slots it takes). */
  parallelism: number;
  inputsFingerprint: string;
  now: string;
}>;

const UNIT_SECONDS: Record<string, number> = { SECOND: 1, MINUTE: 60, HOUR: 3600, DAY: 86_400 };
const intervalPattern = /INTERVAL\s+'(\d+(?:\.\d+)?)'\s+(SECOND|MINUTE|HOUR|DAY)S?/gi;

const secondsOf = (text: string): number[] =>
  [...text.matchAll(intervalPattern)].map((m) => Number(m[1]) * (UNIT_SECONDS[m[2]!.toUpperCase()] ?? 1));

/** What the SQL does, read from its text: enough to say where the job keeps state. */
export type SqlShape = Readonly<{
  windowSeconds?: number;
  joinIntervalSeconds?: number;
  joins: number;
  /** Columns named in GROUP BY (window bounds left out). */
  groupBy: readonly string[];
  /** Fields compared by a join's ON, per side: `o.order_id = p.order_id` → order_id, order_id. */
  joinKeys: ReadonlyArray<readonly [string, string]>;
  /** Fields summed: `SUM(o.total_amount)` → total_amount. */
  summed: readonly string[];
  counts: boolean;
}>;

const bare = (name: string) => name.replace(/`/g, '').replace(/^.*\./, '').trim().toLowerCase();

export function sqlShapeOf(sql: string): SqlShape {
  const window = /\b(TUMBLE|HOP|CUMULATE|SESSION)\s*\(([\s\S]*?)\)\s*\)/i.exec(sql);
  const windowSeconds = window ? Math.max(0, ...secondsOf(window[2]!)) || undefined : undefined;
  const between = /BETWEEN([\s\S]*?)AND([\s\S]*?)(?:\bWHERE\b|\bGROUP\b|$)/i.exec(sql);
  const bounds = between ? secondsOf(`${between[1]} ${between[2]}`) : [];
  const joins = (sql.match(/\bJOIN\b/gi) ?? []).length;
  const groupText = /\bGROUP\s+BY\b([\s\S]*?)(?:\bHAVING\b|\bORDER\b|\bLIMIT\b|$)/i.exec(sql)?.[1] ?? '';
  const groupBy = groupText
    .split(',')
    .map(bare)
    .filter((c) => c !== '' && !/^window_(start|end|time)$/.test(c) && /^[a-z_][a-z0-9_]*$/.test(c));
  const joinKeys = [...sql.matchAll(/([\w`]+\.[\w`]+)\s*=\s*([\w`]+\.[\w`]+)/g)].map(
    (m) => [bare(m[1]!), bare(m[2]!)] as const,
  );
  const summed = [...sql.matchAll(/\bSUM\s*\(\s*(?:CAST\s*\(\s*)?([\w`.]+)/gi)].map((m) => bare(m[1]!));
  return {
    ...(windowSeconds ? { windowSeconds } : {}),
    ...(joins > 0 && bounds.length > 0 ? { joinIntervalSeconds: bounds.reduce((a, b) => a + b, 0) } : {}),
    joins,
    groupBy,
    joinKeys,
    summed,
    counts: /\bCOUNT\s*\(/i.test(sql),
  };
}

const amountish = /(amount|price|revenue|total|value|cost|spend|sales|paid|balance|points)/i;
const countish = /(^|_)(items?|qty|quantity|count|num|number|units?)($|_)/i;

/** What a goal asks for: a measure kind and the dimensions it names (`per channel and region`). */
export function goalTerms(goal: string): { amount: boolean; dimensions: string[]; words: string[] } {
  const text = goal.toLowerCase();
  const amount = /\b(revenue|sales|value|spend|amount|turnover|income|lifetime value)\b/.test(text);
  const dims = [...text.matchAll(/\b(?:per|by|for each)\s+([a-z _-]+?)(?:[.;,]|\bwithin\b|\bevery\b|$)/g)]
    .flatMap((m) => m[1]!.split(/\band\b|\bor\b|,/))
    .map((d) => d.trim().replace(/\s+/g, '_'))
    .filter((d) => d.length > 1);
  const stop = new Set([
    'the',
    'and',
    'for',
    'per',
    'with',
    'from',
    'know',
    'keep',
    'find',
    'them',
    'early',
    'enough',
    'every',
    'within',
    'hour',
    'day',
    'daily',
    'when',
    'where',
    'which',
    'what',
    'their',
    'into',
    'act',
    'on',
    'to',
    'of',
    'in',
    'by',
    'a',
    'an',
  ]);
  const words = text
    .split(/[^a-z]+/)
    .filter((w) => w.length > 3 && !stop.has(w))
    .map((w) => w.replace(/(ies)$/, 'y').replace(/s$/, ''));
  return { amount, dimensions: dims, words };
}

const columnWords = (columns: readonly string[]) =>
  new Set(
    columns.flatMap((c) =>
      c
        .toLowerCase()
        .split(/[^a-z]+/)
        .map((w) => w.replace(/s$/, '')),
    ),
  );

type GoalScore = { score: number; how: string; amountMiss?: string };

/** How well one goal's terms match the product: dimensions named, words shared, the measure. */
function scoreGoal(goal: string, spec: ProductSpec, shape: SqlShape, words: ReadonlySet<string>): GoalScore {
  const terms = goalTerms(goal);
  const dims = terms.dimensions.filter((d) => d.split('_').some((w) => words.has(w.replace(/s$/, ''))));
  const matchedWords = [...new Set(terms.words.filter((w) => words.has(w)))];
  const measure = terms.amount ? amountMeasure(goal, spec, shape) : { score: 0, how: '' };
  if (measure.amountMiss) return { score: 0, how: '', amountMiss: measure.amountMiss };
  const parts = [
    measure.how,
    dims.length > 0 ? `by ${dims.join(', ')}` : '',
    matchedWords.length > 0 && !measure.how ? `about ${matchedWords.join(', ')}` : '',
  ];
  return {
    score: dims.length * 2 + matchedWords.length + measure.score,
    how: parts.filter((p) => p !== '').join(' '),
  };
}

/** A goal naming an amount: does the product sum (or carry) one, or only count items? */
function amountMeasure(goal: string, spec: ProductSpec, shape: SqlShape): GoalScore {
  const aggregates = shape.groupBy.length > 0 || shape.windowSeconds !== undefined;
  if (!aggregates) {
    const numeric = ['double', 'decimal', 'float', 'long', 'int'];
    const amounts = spec.schema.fields.filter((f) => amountish.test(f.name) && numeric.includes(f.type));
    return amounts.length > 0
      ? { score: 2, how: `carries ${amounts.map((f) => f.name).join(', ')} (an amount)` }
      : { score: 0, how: '' };
  }
  const summedAmount = shape.summed.filter((s) => amountish.test(s) && !countish.test(s));
  if (summedAmount.length > 0) return { score: 3, how: `sums ${summedAmount.join(', ')} (an amount)` };
  const summedCounts = shape.summed.filter((s) => countish.test(s));
  if (summedCounts.length > 0 || (shape.summed.length === 0 && shape.counts)) {
    const does =
      summedCounts.length > 0 ? `sums ${summedCounts.join(', ')}, a count of items` : 'only counts rows';
    return { score: 0, how: '', amountMiss: `"${goal}" names an amount, but it ${does}, not an amount` };
  }
  return { score: 0, how: '' };
}

/** Which goal the product serves and how; `serves` false: none (the domain states some). */
export function valueOf(
  spec: ProductSpec,
  shape: SqlShape,
  goals: readonly string[],
): ValueFinding & { serves: boolean } {
  if (goals.length === 0)
    return { serves: true, how: 'the domain states no business goals in mesh.yaml: value not judged' };
  const words = columnWords(spec.schema.fields.map((f) => f.name));
  let best: { goal: string; score: number; how: string } | undefined;
  let amountMiss: string | undefined;
  for (const goal of goals) {
    const scored = scoreGoal(goal, spec, shape, words);
    amountMiss ??= scored.amountMiss;
    if (scored.score > 0 && (!best || scored.score > best.score)) best = { goal, ...scored };
  }
  if (best)
    return {
      serves: true,
      goal: best.goal,
      how: `serves "${best.goal}": ${best.how || 'names what it asks for'}`,
    };
  return {
    serves: false,
    how:
      amountMiss ??
      `serves none of the domain's goals (${goals.map((g) => `"${g}"`).join('; ')}): no column names a goal's measure or dimensions`,
  };
}

const setOf = (list: readonly string[]) => new Set(list.map((x) => x.toLowerCase()));
const intersect = (a: readonly string[], b: readonly string[]) => {
  const other = setOf(b);
  return [...new Set(a)].filter((x) => other.has(x.toLowerCase()));
};
const covers = (outer: readonly string[], inner: readonly string[]) => inner.every((t) => outer.includes(t));

/**
 * Existing products and proposals over the same upstream topics with overlapping columns and keys.
 * Redundant: (a) an input that is a product already derives from every topic the proposal reads
 * (joining it with another product from the same topics adds no source), or (b) one product
 * already offers nearly all its columns, keyed alike, from the same topics.
 */
export function redundancyOf(facts: CriticFacts): { overlaps: Overlap[]; redundant: Overlap[] } {
  const upstream = [...new Set(facts.inputs.flatMap((i) => i.upstreamTopics))].sort();
  const columns = facts.spec.schema.fields.map((f) => f.name);
  const keys = facts.spec.schema.key;
  const overlaps: Overlap[] = [];
  const redundant: Overlap[] = [];
  for (const other of facts.existing) {
    if (other.productId === facts.productId) continue;
    const sharedTopics = intersect(upstream, other.upstreamTopics);
    if (sharedTopics.length === 0) continue;
    const sharedColumns = intersect(columns, other.columns);
    const sharedKeys = intersect(keys, other.keys);
    const input = facts.inputs.find((i) => i.productId === other.productId);
    const base = { productId: other.productId, stage: other.stage, sharedTopics, sharedColumns, sharedKeys };
    if (input && facts.inputs.length > 1 && covers(other.upstreamTopics, upstream)) {
      const rest = facts.inputs.filter((i) => i !== input);
      const note =
        `joins ${other.productId} with ${rest.map((i) => i.productId ?? i.topic).join(', ')}, but ${other.productId} is already derived from every topic it reads (${upstream.join(', ')}): ` +
        `the join adds no source${sharedColumns.length > 0 ? `; shared columns ${sharedColumns.join(', ')}` : ''} — add the missing columns to ${other.productId} instead`;
      redundant.push({ ...base, note });
      overlaps.push({ ...base, note });
      continue;
    }
    const keyedAlike = keys.length === 0 ? other.keys.length === 0 : sharedKeys.length === keys.length;
    if (
      !input &&
      covers(other.upstreamTopics, upstream) &&
      sharedColumns.length >= Math.ceil(columns.length * 0.8) &&
      keyedAlike
    ) {
      const note = `${other.productId} (${other.stage}) already offers ${sharedColumns.length} of its ${columns.length} columns (${sharedColumns.join(', ')})${keys.length > 0 ? ` keyed by ${sharedKeys.join(', ')}` : ''} from the same topics (${sharedTopics.join(', ')})`;
      redundant.push({ ...base, note });
      overlaps.push({ ...base, note });
      continue;
    }
    overlaps.push({
      ...base,
      note: `${other.productId} (${other.stage}) reads the same topics (${sharedTopics.join(', ')})${sharedColumns.length > 0 ? `, shares columns ${sharedColumns.join(', ')}` : ''}`,
    });
  }
  return { overlaps: overlaps.slice(0, 10), redundant };
}

const round = (x: number, digits = 3) => Number(x.toFixed(digits));

/** Output rows per input record, from the preview (1 without one). */
function selectivityOf(preview: ProposalPreview | undefined, basis: string[]): number {
  const sampled = preview?.sampled.reduce((s, x) => s + x.records, 0) ?? 0;
  if (!preview || preview.outcome === 'failed' || sampled === 0) {
    basis.push('output: no preview figures; taken as one row per input record');
    return 1;
  }
  const selectivity = preview.rowCount / sampled;
  basis.push(
    `output: ${preview.rowCount}${preview.capped ? '+' : ''} rows from ${sampled} sampled records in the preview (×${round(selectivity, 4)})`,
  );
  return selectivity;
}

/** Keys and bytes of state: a join's buffered records, an aggregate's groups, or none. */
function stateOf(
  facts: CriticFacts,
  shape: SqlShape,
  inRate: number,
  rowBytes: number,
  basis: string[],
): { stateKeys: number; stateBytes: number } {
  const keys = shape.joinKeys.flat();
  if (shape.joins > 0) {
    const stateKeys = Math.max(0, ...facts.inputs.map((i) => distinctOfKeys(i, keys)));
    const interval = shape.joinIntervalSeconds;
    if (interval !== undefined) {
      basis.push(
        `state: every input record within the join's ${interval} s interval (rate × interval × record size)`,
      );
      const bytes = facts.inputs.reduce(
        (s, i) => s + i.rate.recordsPerSecond * interval * i.rate.bytesPerRecord,
        0,
      );
      return { stateKeys, stateBytes: bytes };
    }
    basis.push(
      'state: one record per join key and side, kept forever (a join without an interval): it grows with the keys',
    );
    const bytes = facts.inputs.reduce((s, i) => s + distinctOfKeys(i, keys) * i.rate.bytesPerRecord, 0);
    return { stateKeys, stateBytes: bytes };
  }
  if (shape.groupBy.length === 0 && shape.windowSeconds === undefined) {
    basis.push('state: none (a projection or filter keeps only Kafka offsets)');
    return { stateKeys: 0, stateBytes: 0 };
  }
  const groups = facts.inputs.reduce(
    (s, i) => Math.max(s, productOfDistinct(i, shape.groupBy)),
    shape.groupBy.length === 0 ? 1 : 0,
  );
  const windowed = shape.windowSeconds !== undefined;
  const perWindow = windowed ? Math.min(groups, Math.max(1, inRate * shape.windowSeconds)) : groups;
  const stateKeys = Math.max(1, Math.round(perWindow));
  basis.push(
    windowed
      ? `state: ${stateKeys} groups (${shape.groupBy.join(', ') || 'one'}) per ${shape.windowSeconds} s window from the profiles' distinct counts, the open window and the next`
      : `state: one row per group (${shape.groupBy.join(', ')}), ${stateKeys} from the profiles' distinct counts`,
  );
  return { stateKeys, stateBytes: stateKeys * rowBytes * (windowed ? 2 : 1) };
}

/** The job's cost from the measured figures; each figure's basis in a sentence. */
export function costOf(facts: CriticFacts, shape: SqlShape): CostEstimate {
  const basis: string[] = [];
  const inRate = facts.inputs.reduce((s, i) => s + i.rate.recordsPerSecond, 0);
  for (const i of facts.inputs)
    basis.push(
      `${i.alias} (${i.topic}): ${round(i.rate.recordsPerSecond)} records/s, ${round(i.rate.bytesPerSecond)} B/s over the last ${i.rate.windowSeconds} s (Kafka offsets), ${Math.round(i.rate.bytesPerRecord)} B/record in the sample`,
    );
  const outRate = inRate * selectivityOf(facts.preview, basis);
  const rowBytes = averageRowBytes(facts.preview) ?? 100;
  const { stateKeys, stateBytes } = stateOf(facts, shape, inRate, rowBytes, basis);
  const icebergBytesPerDay = outRate * 86_400 * rowBytes * 0.25;
  basis.push(
    `Iceberg: output rate × ${Math.round(rowBytes)} B/row (the preview's rows) × 86400 s × 0.25 (Parquet compression)`,
  );
  basis.push(
    `slots: the product's job (parallelism ${facts.parallelism}) and its Iceberg materialization job`,
  );
  return {
    inputs: facts.inputs.map((i) => i.rate),
    outputRecordsPerSecond: round(outRate, 4),
    stateKeys,
    stateBytes: Math.round(stateBytes),
    icebergBytesPerDay: Math.round(icebergBytesPerDay),
    flinkSlots: facts.parallelism + 1,
    basis,
  };
}

function averageRowBytes(preview: ProposalPreview | undefined): number | undefined {
  if (!preview || preview.rows.length === 0) return undefined;
  const total = preview.rows.reduce(
    (s, row) => s + JSON.stringify(Object.fromEntries(preview.columns.map((c, i) => [c, row[i]]))).length,
    0,
  );
  return total / preview.rows.length;
}

function distinctOfKeys(input: InputFacts, names: readonly string[]): number {
  const found = names.map((n) => input.fields[n]?.distinct).filter((d): d is number => d !== undefined);
  return found.length > 0 ? Math.max(...found) : input.sampleRecords;
}

function productOfDistinct(input: InputFacts, names: readonly string[]): number {
  let product = 1;
  let any = false;
  for (const name of names) {
    const field = input.fields[name];
    if (field) {
      product *= Math.max(1, field.distinct);
      any = true;
    }
  }
  return any ? Math.min(product, Math.max(1, input.sampleRecords)) : 0;
}

/** Personal fields the output reaches, join fan-out from the key counts, late data. */
export function riskOf(facts: CriticFacts, shape: SqlShape): RiskFinding {
  const notes: string[] = [];
  const personalFields = facts.spec.schema.fields.filter((f) => f.pii).map((f) => f.name);
  const personalInputs = facts.inputs.flatMap((i) =>
    Object.entries(i.fields)
      .filter(([, f]) => f.personal)
      .map(([name]) => `${i.alias}.${name}`),
  );
  if (personalInputs.length > 0)
    notes.push(`personal fields in its inputs: ${personalInputs.slice(0, 20).join(', ')}`);
  let joinFanOut: number | undefined;
  if (shape.joins > 0) {
    const perKey = facts.inputs.map((i) => {
      const key = shape.joinKeys.flat().find((k) => i.fields[k]);
      const field = key ? i.fields[key] : undefined;
      return field && field.distinct > 0 ? field.present / field.distinct : 1;
    });
    joinFanOut = round(Math.max(1, ...perKey), 2);
    if (joinFanOut > 2) notes.push(`a join key repeats ${joinFanOut}× on one side: each row fans out`);
  }
  const late = Math.max(0, ...facts.inputs.map((i) => i.lateSeconds ?? 0));
  const lateData =
    late > 5
      ? `records arrive up to ${Math.round(late)} s after their event time; windows close 5 s after it, so later ones are dropped`
      : undefined;
  if (facts.preview?.outcome === 'failed')
    notes.push(`the preview failed: ${facts.preview.failure ?? 'no reason given'}`);
  if (facts.preview?.outcome === 'empty') notes.push('the preview returned no rows from the sample');
  return {
    personalFields,
    ...(joinFanOut !== undefined ? { joinFanOut } : {}),
    ...(lateData ? { lateData } : {}),
    notes,
  };
}

/** The deterministic critic's review. */
export function critique(facts: CriticFacts): Critique {
  const shape = sqlShapeOf(facts.spec.sql ?? '');
  const { overlaps, redundant } = redundancyOf(facts);
  const value = valueOf(facts.spec, shape, facts.goals);
  const reasons: string[] = [];
  for (const overlap of redundant) reasons.push(`redundant: ${overlap.note}`);
  if (!value.serves) reasons.push(`no stated value: ${value.how}`);
  const risk = riskOf(facts, shape);
  if (facts.preview?.outcome === 'failed' || facts.preview?.outcome === 'empty')
    reasons.push(risk.notes[risk.notes.length - 1]!);
  const verdict = redundant.length > 0 || !value.serves ? 'dismiss' : 'propose';
  return {
    verdict,
    by: 'rules',
    reasons,
    cost: costOf(facts, shape),
    redundancy: overlaps,
    value: { ...(value.goal ? { goal: value.goal } : {}), how: value.how },
    risk,
    inputsFingerprint: facts.inputsFingerprint,
    at: facts.now,
  };
}
