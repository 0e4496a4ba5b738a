import type { ProductSpec, SchemaField } from '../domain/spec';
import { productIdOf } from '../domain/spec';

/**
 * What a domain's business goals ask of the analyst, read from their words (mesh.yaml): whether a
 * goal is about money (revenue, value, sales: an amount is summed, never a count of items) and
 * which dimensions it names (`per channel and region`, `by payment method`). The analyst picks its
 * measure and dimensions for the goals, and every proposal says in one sentence which goal it
 * serves. Pure.
 */

export type GoalIntent = Readonly<{
  goal: string;
  /** The goal names revenue, value, sales, spend, …: an amount is its measure. */
  wantsAmount: boolean;
  /** The words of the dimensions it names (`channel`, `region`), singular, lowercase. */
  dimensions: readonly string[];
  /** Every meaningful word of the goal, singular, lowercase. */
  words: readonly string[];
}>;

const moneyWords =
  /\b(revenue|revenues|value|values|sales|turnover|spend|spending|income|gmv|amount|amounts|money|margin|margins|profit|profits|takings|billed|earnings)\b/i;
/** Field names that hold an amount of money (or a value to sum). */
const amountName =
  /(^|_)(amount|total|revenue|price|value|cost|sum|spend|paid|fee|fees|gmv|sales|net|gross|balance)(_|$)/i;
/** Field names that count things: summing them counts items, not money. */
const countName =
  /(^|_)(items?|item_count|qty|quantity|quantities|count|counts|num|number|units?|pieces)(_|$)/i;
const currencyName = /(^|_)(currency|currency_code|ccy)$/i;
/** The words that start a goal's list of dimensions, and those that end it. */
const dimensionStart = /^(per|by|across|each)$/;
const dimensionStop = new Set([
  'within',
  'every',
  'each',
  'early',
  'from',
  'to',
  'in',
  'on',
  'at',
  'for',
  'with',
  'before',
  'after',
  'daily',
  'hourly',
  'weekly',
  'monthly',
  'the',
]);
/** Field names that stand for a dimension a goal names under another word. */
const synonyms: Record<string, readonly string[]> = {
  region: ['region', 'country', 'state', 'city', 'area', 'market', 'zone', 'territory'],
  channel: ['channel', 'source', 'referrer', 'medium', 'platform', 'origin', 'campaign'],
  provider: ['provider', 'psp', 'gateway', 'acquirer', 'processor'],
  method: ['method', 'payment_method'],
  carrier: ['carrier', 'courier', 'shipper'],
  category: ['category', 'segment', 'department', 'line'],
};

const singular = (word: string) =>
  word.length > 3 && word.endsWith('ies')
    ? `${word.slice(0, -3)}y`
    : word.length > 3 && word.endsWith('s') && !word.endsWith('ss')
      ? word.slice(0, -1)
      : word;
const wordsOf = (text: string) =>
  text
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w.length > 1)
    .map(singular);

export function intentOf(goal: string): GoalIntent {
  const words = wordsOf(goal);
  const dimensions: string[] = [];
  let listing = false;
  for (const word of words) {
    if (dimensionStart.test(word)) {
      listing = true;
      continue;
    }
    if (!listing) continue;
    if (dimensionStop.has(word)) {
      listing = false;
      continue;
    }
    if (word !== 'and' && word !== 'or' && !dimensions.includes(word)) dimensions.push(word);
  }
  return {
    goal,
    wantsAmount: moneyWords.test(goal),
    dimensions,
    words: words.filter(
      (w) => w.length > 2 && !dimensionStop.has(w) && !dimensionStart.test(w) && w !== 'and',
    ),
  };
}

export const isAmountField = (name: string) => amountName.test(name) && !countName.test(name);
export const isCountField = (name: string) => countName.test(name);
export const isCurrencyField = (name: string) => currencyName.test(name);

/** Whether a field stands for a dimension word of a goal (`country` for `region`). */
export function namesDimension(field: string, dimension: string): boolean {
  const parts = wordsOf(field.replace(/_/g, ' '));
  const names = synonyms[dimension] ?? [dimension];
  return names.some((name) => field.toLowerCase() === name || parts.includes(singular(name)));
}

/**
 * The measure to sum: when a goal is about money, an amount field (never a count of items; none
 * when the product has no amount); otherwise an amount before a count, else the first numeric
 * field. `goal` is the goal it was chosen for.
 */
export function chooseMeasure(
  candidates: readonly SchemaField[],
  intents: readonly GoalIntent[],
): { field: SchemaField; goal?: GoalIntent } | undefined {
  const money = intents.find((i) => i.wantsAmount);
  const amounts = candidates.filter((f) => isAmountField(f.name));
  // `total_amount` before `amount_tax`: the more of the name says amount, the better.
  const amount = [...amounts].sort(
    (a, b) => Number(/amount|revenue|total/.test(b.name)) - Number(/amount|revenue|total/.test(a.name)),
  )[0];
  if (money) return amount ? { field: amount, goal: money } : undefined;
  const plain = amount ?? candidates[0];
  return plain ? { field: plain } : undefined;
}

/**
 * The dimensions to group by, from fields with few values (`candidates`, fewest first): the ones a
 * goal names first; a currency whenever an amount is summed (amounts in two currencies do not add
 * up); else the one with the fewest values. At most two.
 */
export function chooseDimensions<T extends { field: SchemaField }>(
  candidates: readonly T[],
  intents: readonly GoalIntent[],
  measure: SchemaField,
): { dimensions: T[]; goal?: GoalIntent } {
  const chosen: T[] = [];
  let goal: GoalIntent | undefined;
  for (const intent of intents) {
    for (const dimension of intent.dimensions) {
      const found = candidates.find((c) => namesDimension(c.field.name, dimension) && !chosen.includes(c));
      if (found && chosen.length < 2) {
        chosen.push(found);
        goal ??= intent;
      }
    }
  }
  const currency = candidates.find((c) => isCurrencyField(c.field.name));
  if (isAmountField(measure.name) && currency && !chosen.includes(currency)) {
    if (chosen.length >= 2) chosen.pop();
    chosen.push(currency);
  }
  if (chosen.length === 0 && candidates[0]) chosen.push(candidates[0]);
  return { dimensions: chosen, ...(goal ? { goal } : {}) };
}

/** The goal that best matches these words (the first goal on a tie), if any word matches at all. */
export function closestGoal(
  intents: readonly GoalIntent[],
  terms: readonly string[],
): GoalIntent | undefined {
  const words = new Set(terms.flatMap((t) => wordsOf(t.replace(/_/g, ' '))));
  let best: { intent: GoalIntent; score: number } | undefined;
  for (const intent of intents) {
    // A word of the goal, or a field standing for a dimension it names (`country` for `region`).
    const score =
      intent.words.filter((w) => words.has(w)).length +
      intent.dimensions.filter((d) => terms.some((t) => namesDimension(t, d))).length;
    if (score > 0 && (!best || score > best.score)) best = { intent, score };
  }
  return best?.intent;
}

const quoted = (goal: string) => `"${goal.replace(/\s+/g, ' ').trim()}"`;

/**
 * The one sentence of a proposal that says which goal it serves and how:
 * `Serves the orders goal "Know daily revenue per channel and region within the hour." by summing
 * total_amount (revenue) per currency each hour; channel and region are not in the product.`
 */
export function goalSentence(
  parent: Pick<ProductSpec, 'domain' | 'name'>,
  served: GoalIntent | undefined,
  how: string,
  intents: readonly GoalIntent[],
  fieldNames: readonly string[] = [],
): string {
  if (!served) {
    const first = intents[0];
    return first
      ? `Serves none of the ${parent.domain} goals by name (closest: ${quoted(first.goal)}); it ${how}.`
      : `The ${parent.domain} domain states no business goal in mesh.yaml; it ${how}.`;
  }
  const missing = served.dimensions.filter((d) => !fieldNames.some((f) => namesDimension(f, d)));
  return (
    `Serves the ${parent.domain} goal ${quoted(served.goal)}: it ${how}` +
    (missing.length > 0
      ? `; ${missing.join(' and ')} ${missing.length === 1 ? 'is' : 'are'} not in ${productIdOf(parent)}.`
      : '.')
  );
}

/**
 * The raw topics a product is built from, through its product inputs (`specOf` resolves them), and
 * those products as `product:<id>`. Two products sharing one are not
 * independent sources: joining them adds no column from another source.
 */
export function upstreamTopicsOf(
  spec: Pick<ProductSpec, 'inputs' | 'domain' | 'name'>,
  specOf: (productId: string) => Pick<ProductSpec, 'inputs' | 'domain' | 'name'> | undefined = () =>
    undefined,
): Set<string> {
  const topics = new Set<string>();
  const seen = new Set<string>([productIdOf(spec)]);
  const walk = (inputs: ProductSpec['inputs'], depth: number) => {
    for (const input of inputs) {
      if ('topic' in input) {
        topics.add(input.topic);
        continue;
      }
      if (seen.has(input.product)) continue;
      seen.add(input.product);
      // The product itself is upstream too (a product joined with its own parent adds nothing new).
      topics.add(`product:${input.product}`);
      const upstream = depth < 10 ? specOf(input.product) : undefined;
      if (upstream) walk(upstream.inputs, depth + 1);
    }
  };
  walk(spec.inputs, 0);
  return topics;
}
