import { createHash } from 'node:crypto';
import type { ProductSpec, ProductSpecInput, SchemaField } from '../domain/spec';
import { parseSpec, productIdOf } from '../domain/spec';
import { checkPolicies } from '../domain/policies';
import { inputAliasOf } from '../domain/creation';
import { tumbleAggregateSql } from '../creation/window-aggregate';
import { ruleLabel, validRowCondition } from './quality-queries';
import type { GoalIntent } from './goals';
import {
  chooseDimensions,
  chooseMeasure,
  closestGoal,
  goalSentence,
  intentOf,
  isAmountField,
  isCurrencyField,
  upstreamTopicsOf,
} from './goals';

/**
 * The deterministic analyst (no LLM): from one cycle's figures and the catalog it proposes
 * higher-order products over the analysed product, each with its Flink SQL (one SELECT over its
 * inputs by alias), the insight that led to it and the parent as lineage:
 * - an hourly aggregate when the product has a measure and an event time: the measure and the
 *   dimensions are chosen for the domain's business goals (./goals): an amount where a goal names
 *   revenue or value (never a count of items), a goal's dimensions first, the currency with any
 *   amount;
 * - a join with another active product on a key whose values overlap, only when that product adds
 *   columns from another upstream source (never two products of the same topic);
 * - a "valid rows" product when a row rule kept failing over the last cycles.
 * Each proposal says in one sentence which of the domain's goals it serves, and how.
 * The SQL names only the product's alias and the declared neighbour's; ids are content hashes of
 * the idea, so the same idea is never proposed twice. Pure.
 */

export const ANALYST_NAME = 'analysis-analyst';
/** A dimension has at most this many distinct values (and at least 2). */
export const MAX_DIMENSION_VALUES = 50;
/** A join needs at least this share of our key's values among the neighbour's keys. */
export const MIN_JOIN_CONTAINMENT = 0.8;
/** A rule failing in this many consecutive cycles (the latest included) earns a valid-rows product. */
export const FAILING_CYCLES = 3;

export type FieldFigures = Readonly<{ name: string; distinct: number; nulls: number }>;

/** What one analysis cycle measured, as the analyst needs it. */
export type CycleFigures = Readonly<{
  snapshotId: string;
  rows: number;
  fields: readonly FieldFigures[];
  /** Per rule label, failing counts of the recent cycles, oldest first, this cycle last. */
  ruleHistory: Readonly<Record<string, readonly number[]>>;
  /** The query that produced the figures (shown as the insight's evidence). */
  query: string;
}>;

/** An active product next to this one, with how far our fields' values lie among its key's. */
export type Neighbour = Readonly<{
  spec: ProductSpec;
  stage: string;
  /** Measured overlaps: our field's values held by the neighbour's (unique) key field. */
  overlaps: ReadonlyArray<{ field: string; theirField: string; containment: number; query: string }>;
}>;

export type Insight = Readonly<{ summary: string; figures: Record<string, number | string>; query: string }>;

export type AnalystProposal = Readonly<{
  proposalId: string;
  /** `aggregate:<dim>:<measure>`, `join:<product>:<field>`, `valid:<rule>`: what makes the idea. */
  idea: string;
  spec: ProductSpec;
  insight: Insight;
}>;

export type AnalystResult = {
  proposals: AnalystProposal[];
  dropped: Array<{ idea: string; reasons: string[] }>;
};

const measureTypes = new Set(['int', 'long', 'float', 'double', 'decimal']);
const flinkIdent = (name: string) => `\`${name.replace(/`/g, '``')}\``;
/** A product's alias in SQL: the one every input of it gets (`inputAliasOf`). */
export const aliasOf = (spec: Pick<ProductSpec, 'domain' | 'name'>) =>
  inputAliasOf({ product: productIdOf(spec) });

/** The id of an analyst idea: parent, idea and output shape (never the wording). */
export function analystProposalIdOf(parentId: string, idea: string, spec: ProductSpec): string {
  const shape = {
    parent: parentId,
    idea,
    inputs: spec.inputs.map((i) => ('product' in i ? `product:${i.product}` : `topic:${i.topic}`)).sort(),
    fields: spec.schema.fields.map((f) => `${f.name}:${f.type}`).sort(),
  };
  return createHash('sha256').update(JSON.stringify(shape)).digest('hex');
}

/** What the analysts write of a proposal; the platform adds domain, owner, classification, lineage and tags. */
export type AnalystDraft = Omit<
  ProductSpecInput,
  'owner' | 'domain' | 'classification' | 'proposal' | 'tags'
> & {
  reasoning: string;
};

/**
 * An analyst's idea as a full spec over `parent` (the deterministic analyst's and the LLM's alike):
 * the parent's domain and owner, masking of the parent's personal fields it keeps, the parent as
 * lineage (`proposal.parentProductId`), the insight as evidence (summary, figures, query), and an
 * id hashed from the idea and the output's shape. Every problem (spec, policy) is a sentence.
 */
export function analystProposalOf(
  parent: ProductSpec,
  idea: string,
  input: AnalystDraft,
  insight: Insight,
  confidence: number,
  options: {
    /** Who proposes (default the deterministic analyst). */
    agentName?: string;
    /** What the id hashes instead of `idea` (an idea named by a model: its wording must not count). */
    ideaKey?: string;
    /** The sentence saying which business goal it serves (`goalSentence`): leads the reasoning. */
    goal?: string;
  } = {},
): { proposal: AnalystProposal } | { problems: string[] } {
  const parentId = productIdOf(parent);
  const names = new Set(input.schema.fields.map((f) => f.name));
  // Masking follows the data: a derived product masks whatever it keeps of its parents' personal fields.
  const masking = parent.classification.masking.filter((m) => names.has(m.field));
  const { reasoning: drafted, ...rest } = input;
  const reasoning = options.goal ? `${options.goal} ${drafted}`.slice(0, 4000) : drafted;
  const source = `analysis:${parentId}@${insight.figures.snapshot ?? ''}`.slice(0, 500);
  const figures = Object.entries(insight.figures)
    .map(([name, value]) => `${name}=${value}`)
    .join(', ');
  const candidate: ProductSpecInput = {
    ...rest,
    domain: parent.domain,
    owner: parent.owner,
    classification: {
      pii: masking.length > 0,
      level: masking.length > 0 ? parent.classification.level : 'internal',
      masking,
    },
    tags: ['derived', 'analysis'],
    proposal: {
      proposedBy: { kind: 'agent', name: options.agentName ?? ANALYST_NAME },
      reasoning,
      evidence: [
        { summary: insight.summary.slice(0, 1000), source },
        ...(figures ? [{ summary: `figures: ${figures}`.slice(0, 1000), source }] : []),
        ...(insight.query.trim() ? [{ summary: `query: ${insight.query}`.slice(0, 1000), source }] : []),
        ...(options.goal
          ? [{ summary: `goal: ${options.goal}`.slice(0, 1000), source: `mesh.yaml:${parent.domain}` }]
          : []),
      ],
      confidence,
      parentProductId: parentId,
    },
  };
  let spec: ProductSpec;
  try {
    spec = parseSpec(candidate, `analyst proposal ${parent.domain}.${input.name}`);
  } catch (error) {
    return { problems: (error as { problems?: string[] }).problems ?? [(error as Error).message] };
  }
  const violations = checkPolicies(spec, {});
  if (violations.length > 0) return { problems: violations.map((v) => `policy: ${v}`) };
  const proposalId = analystProposalIdOf(parentId, options.ideaKey ?? idea, spec);
  return {
    proposal: {
      proposalId,
      idea,
      spec: { ...spec, tags: [...spec.tags, `proposal-${proposalId.slice(0, 12)}`] },
      insight,
    },
  };
}

function finish(
  parent: ProductSpec,
  idea: string,
  input: AnalystDraft,
  insight: Insight,
  confidence: number,
  result: AnalystResult,
  goal: string,
): void {
  const built = analystProposalOf(parent, idea, input, insight, confidence, { goal });
  if ('problems' in built) result.dropped.push({ idea, reasons: built.problems });
  else result.proposals.push(built.proposal);
}

const copyField = (field: SchemaField, rename?: string, nullable = field.nullable) => ({
  name: rename ?? field.name,
  type: field.type,
  nullable,
  description: field.description,
  pii: field.pii,
});

/** What the analyst knows of the domain: its goals, and the catalog's specs for lineage. */
type Domain = Readonly<{
  intents: readonly GoalIntent[];
  specOf: (productId: string) => ProductSpec | undefined;
}>;

function aggregate(parent: ProductSpec, figures: CycleFigures, result: AnalystResult, domain: Domain): void {
  const time = parent.schema.eventTimeField;
  const timeField = parent.schema.fields.find((f) => f.name === time);
  if (!time || timeField?.type !== 'timestamp') return;
  const keys = new Set(parent.schema.key);
  const measures = parent.schema.fields.filter(
    (f) => measureTypes.has(f.type) && !keys.has(f.name) && !f.pii,
  );
  const chosen = chooseMeasure(measures, domain.intents);
  if (!chosen) {
    if (measures.length > 0)
      result.dropped.push({
        idea: 'aggregate',
        reasons: [
          `the ${parent.domain} goals are about money, and ${productIdOf(parent)} has no amount to sum (its numeric ` +
            `fields: ${measures.map((f) => f.name).join(', ')}): a rollup of counts would not serve them`,
        ],
      });
    return;
  }
  const measure = chosen.field;
  const byName = new Map(figures.fields.map((f) => [f.name, f]));
  // Fields with few values that still split the data, the fewest first.
  const candidates = parent.schema.fields
    .filter((f) => (f.type === 'string' || f.type === 'boolean') && !f.pii && !keys.has(f.name))
    .map((f) => ({ field: f, figures: byName.get(f.name) }))
    .filter(
      (d): d is { field: SchemaField; figures: FieldFigures } =>
        d.figures !== undefined && d.figures.distinct >= 2 && d.figures.distinct <= MAX_DIMENSION_VALUES,
    )
    .sort((a, b) => a.figures.distinct - b.figures.distinct || a.field.name.localeCompare(b.field.name));
  const { dimensions, goal: dimensionGoal } = chooseDimensions(candidates, domain.intents, measure);
  if (dimensions.length === 0) return;
  const dims = dimensions.map((d) => d.field.name);
  const served =
    chosen.goal ?? dimensionGoal ?? closestGoal(domain.intents, [parent.name, measure.name, ...dims]);
  const total = measure.name.startsWith('total_') ? measure.name : `total_${measure.name}`;
  const alias = aliasOf(parent);
  const rollup = tumbleAggregateSql({
    alias,
    timeColumn: time,
    size: "INTERVAL '1' HOUR",
    dimensions: dimensions.map((d) => d.field),
    measures: [
      { name: 'events', fn: 'count' },
      { name: total, fn: 'sum', column: measure.name, type: measure.type },
    ],
  });
  const described: Record<string, string> = {
    window_start: 'start of the hour',
    window_end: 'end of the hour',
    events: `rows of ${productIdOf(parent)} in the hour`,
    [total]: `sum of ${measure.name}`,
  };
  const per = dims.join(' and ');
  const amount = isAmountField(measure.name);
  const goal = goalSentence(
    parent,
    served,
    `sums ${measure.name}${amount ? ' (an amount, not a count)' : ''} per ${per} each hour`,
    domain.intents,
    parent.schema.fields.map((f) => f.name),
  );
  finish(
    parent,
    `aggregate:${dims.join('+')}:${measure.name}:1h`,
    {
      name: `${parent.name}_by_${dims.join('_')}_hourly`.slice(0, 100),
      kind: 'aggregate',
      description: `${productIdOf(parent)} per hour and ${per}: events and the sum of ${measure.name}.`,
      inputs: [{ product: productIdOf(parent), as: alias }],
      sql: rollup.sql,
      schema: {
        // Typed as Flink types the window TVF's columns and aggregates.
        fields: rollup.fields.map((f) => {
          const dimension = dimensions.find((d) => d.field.name === f.name);
          return dimension
            ? copyField(dimension.field)
            : { ...f, description: described[f.name] ?? '', pii: false };
        }),
        key: ['window_start', ...dims],
        eventTimeField: 'window_start',
      },
      reasoning:
        `${productIdOf(parent)} has a measure (${measure.name}), an event time (${time}) and few-valued ` +
        `dimensions (${dimensions.map((d) => `${d.field.name}: ${d.figures.distinct} values`).join(', ')} at snapshot ` +
        `${figures.snapshotId})` +
        (amount && dims.some(isCurrencyField)
          ? `; amounts are summed per currency, as they add up only within one`
          : '') +
        `: an hourly rollup serves dashboards without scanning ${figures.rows} rows.`,
    },
    {
      summary: `${per} ${dims.length === 1 ? 'has' : 'have'} ${dimensions.map((d) => d.figures.distinct).join(' and ')} distinct values over ${figures.rows} rows; ${measure.name} is a ${measure.type} measure`,
      figures: {
        snapshot: figures.snapshotId,
        rows: figures.rows,
        ...Object.fromEntries(dimensions.map((d) => [`distinct_${d.field.name}`, d.figures.distinct])),
        measure: measure.name,
      },
      query: figures.query,
    },
    0.6,
    result,
    goal,
  );
}

/**
 * Why joining `neighbour` adds nothing from another source, if so: it is built from a topic (or a
 * product) the parent is built from too (orders_curated and orders_with_payments both read
 * orders.orders), or it is one of the parent's own upstream products.
 */
export function sharedUpstream(
  parent: ProductSpec,
  neighbour: ProductSpec,
  specOf: (productId: string) => ProductSpec | undefined,
): string | undefined {
  const ours = upstreamTopicsOf(parent, specOf);
  const theirs = upstreamTopicsOf(neighbour, specOf);
  const neighbourId = productIdOf(neighbour);
  if (ours.has(`product:${neighbourId}`) || theirs.has(`product:${productIdOf(parent)}`)) {
    return `${neighbourId} and ${productIdOf(parent)} are one another's lineage: joining them adds no column from another source`;
  }
  const shared = [...theirs].filter((t) => ours.has(t) && !t.startsWith('product:'));
  if (shared.length === 0) return undefined;
  return (
    `${neighbourId} is built from ${shared.join(', ')} too, like ${productIdOf(parent)}: joining them adds ` +
    `no column from another upstream source`
  );
}

function joins(
  parent: ProductSpec,
  neighbours: readonly Neighbour[],
  result: AnalystResult,
  domain: Domain,
): void {
  const parentId = productIdOf(parent);
  for (const neighbour of neighbours) {
    const otherId = productIdOf(neighbour.spec);
    if (otherId === parentId || (neighbour.stage !== 'active' && neighbour.stage !== 'degraded')) continue;
    const redundant = sharedUpstream(parent, neighbour.spec, domain.specOf);
    if (redundant) {
      if (neighbour.overlaps.some((o) => o.containment >= MIN_JOIN_CONTAINMENT))
        result.dropped.push({ idea: `join:${otherId}`, reasons: [redundant] });
      continue;
    }
    const overlap = [...neighbour.overlaps]
      .filter((o) => o.containment >= MIN_JOIN_CONTAINMENT)
      .filter((o) => parent.schema.fields.some((f) => f.name === o.field))
      .filter((o) => neighbour.spec.schema.key.length === 1 && neighbour.spec.schema.key[0] === o.theirField)
      .sort((a, b) => b.containment - a.containment || a.field.localeCompare(b.field))[0];
    if (!overlap) continue;
    // A left join updates its rows as matches arrive: only a keyed, compacted (upsert) topic holds that.
    if (parent.schema.key.length === 0) continue;
    const ours = aliasOf(parent);
    let theirs = aliasOf(neighbour.spec);
    if (theirs === ours) theirs = `${theirs}_2`.slice(0, 63);
    const taken = new Set(parent.schema.fields.map((f) => f.name));
    const extra = neighbour.spec.schema.fields
      .filter((f) => f.name !== overlap.theirField)
      .map((f) => {
        const name = taken.has(f.name) ? `${aliasOf(neighbour.spec)}_${f.name}` : f.name;
        taken.add(name);
        return { field: f, name };
      });
    const select = [
      ...parent.schema.fields.map((f) => `${ours}.${flinkIdent(f.name)}`),
      ...extra.map(
        (e) =>
          `${theirs}.${flinkIdent(e.field.name)}${e.name === e.field.name ? '' : ` AS ${flinkIdent(e.name)}`}`,
      ),
    ];
    const sql =
      `SELECT ${select.join(', ')}\nFROM ${ours}\n` +
      `LEFT JOIN ${theirs} ON ${ours}.${flinkIdent(overlap.field)} = ${theirs}.${flinkIdent(overlap.theirField)}`;
    const idea = `join:${otherId}:${overlap.field}=${overlap.theirField}`;
    const added = extra.map((e) => e.name);
    const goal = goalSentence(
      parent,
      closestGoal(domain.intents, [neighbour.spec.name, ...added]) ??
        closestGoal(domain.intents, [parent.name, ...parent.schema.fields.map((f) => f.name)]),
      `adds ${otherId}'s ${added.slice(0, 5).join(', ')}${added.length > 5 ? ', …' : ''} to each row of ${parentId}`,
      domain.intents,
      [...parent.schema.fields.map((f) => f.name), ...added],
    );
    // Personal fields of the neighbour keep their masking in the joined product.
    const theirMasking = new Map(neighbour.spec.classification.masking.map((m) => [m.field, m.strategy]));
    const maskedParent: ProductSpec = {
      ...parent,
      classification: {
        ...parent.classification,
        masking: [
          ...parent.classification.masking,
          ...extra.flatMap((e) => {
            const strategy = theirMasking.get(e.field.name);
            return strategy ? [{ field: e.name, strategy }] : [];
          }),
        ],
        level:
          neighbour.spec.classification.masking.length > 0
            ? neighbour.spec.classification.level
            : parent.classification.level,
      },
    };
    finish(
      maskedParent,
      idea,
      {
        name: `${parent.name}_with_${neighbour.spec.name}`.slice(0, 100),
        kind: 'aggregate',
        description:
          `${parentId} with ${otherId} joined on ${overlap.field} = ${overlap.theirField} (a left join: ` +
          `a row without a match has no ${aliasOf(neighbour.spec)} columns), kept current per ${parent.schema.key.join(', ')}.`,
        // The join's result changes as matches arrive: an upsert topic keeps the newest row per key.
        outputTopic: { cleanupPolicy: 'compact' },
        inputs: [
          { product: parentId, as: ours },
          { product: otherId, as: theirs },
        ],
        sql,
        schema: {
          fields: [
            ...parent.schema.fields.map((f) => copyField(f)),
            ...extra.map((e) => copyField(e.field, e.name, true)),
          ],
          key: [...parent.schema.key],
          ...(parent.schema.eventTimeField ? { eventTimeField: parent.schema.eventTimeField } : {}),
        },
        reasoning:
          `${Math.round(overlap.containment * 1000) / 10} % of ${parentId}.${overlap.field}'s values are keys of ` +
          `${otherId} (${overlap.theirField}): the two products describe the same things and read better together.`,
      },
      {
        summary: `${Math.round(overlap.containment * 1000) / 10} % of ${parentId}.${overlap.field} values found in ${otherId}.${overlap.theirField}`,
        figures: { containment: overlap.containment, field: overlap.field, neighbour: otherId },
        query: overlap.query,
      },
      0.6,
      result,
      goal,
    );
  }
}

function validRows(parent: ProductSpec, figures: CycleFigures, result: AnalystResult, domain: Domain): void {
  for (const rule of parent.quality) {
    const label = ruleLabel(rule);
    const history = figures.ruleHistory[label] ?? [];
    const recent = history.slice(-FAILING_CYCLES);
    if (recent.length < FAILING_CYCLES || !recent.every((n) => n > 0)) continue;
    const condition = validRowCondition(rule, flinkIdent);
    if (!condition) continue;
    const alias = aliasOf(parent);
    const slug = label
      .replace(/[^a-z0-9]+/gi, '_')
      .toLowerCase()
      .replace(/_+$/, '');
    finish(
      parent,
      `valid:${label}`,
      {
        name: `${parent.name}_valid_${slug}`.slice(0, 100),
        kind: 'consumer-aligned',
        description: `The rows of ${productIdOf(parent)} that pass ${label}.`,
        inputs: [{ product: productIdOf(parent), as: alias }],
        sql: `SELECT ${parent.schema.fields.map((f) => flinkIdent(f.name)).join(', ')}\nFROM ${alias}\nWHERE ${condition}`,
        schema: {
          fields: parent.schema.fields.map((f) => copyField(f)),
          key: [...parent.schema.key],
          ...(parent.schema.eventTimeField ? { eventTimeField: parent.schema.eventTimeField } : {}),
        },
        quality: [rule],
        reasoning:
          `${label} failed in each of the last ${FAILING_CYCLES} cycles (${recent.join(', ')} rows): consumers who need ` +
          `clean rows get them without filtering each time.`,
      },
      {
        summary: `${label} failing rows over the last ${FAILING_CYCLES} cycles: ${recent.join(', ')}`,
        figures: { snapshot: figures.snapshotId, rule: label, failing: recent[recent.length - 1] ?? 0 },
        query: figures.query,
      },
      0.7,
      result,
      goalSentence(
        parent,
        closestGoal(domain.intents, [label, parent.name]),
        `gives consumers the rows of ${productIdOf(parent)} that pass ${label}`,
        domain.intents,
      ),
    );
  }
}

export function analyseProduct(input: {
  spec: ProductSpec;
  figures: CycleFigures;
  neighbours: readonly Neighbour[];
  /** The business goals of the product's domain (mesh.yaml). */
  goals?: readonly string[];
  /** The catalog's specs, for lineage (which upstream topics a product is built from). */
  specOf?: (productId: string) => ProductSpec | undefined;
  /** Ideas already proposed (proposal ids): left out. */
  alreadyProposed?: ReadonlySet<string>;
}): AnalystResult {
  const result: AnalystResult = { proposals: [], dropped: [] };
  const domain: Domain = {
    intents: (input.goals ?? []).map(intentOf),
    specOf: input.specOf ?? (() => undefined),
  };
  aggregate(input.spec, input.figures, result, domain);
  joins(input.spec, input.neighbours, result, domain);
  validRows(input.spec, input.figures, result, domain);
  const seen = input.alreadyProposed ?? new Set<string>();
  return { ...result, proposals: result.proposals.filter((p) => !seen.has(p.proposalId)) };
}

/** Every table a piece of analyst SQL reads (FROM, JOIN, TABLE): the guard's first check, and the tests'. */
export function tablesReadBy(sql: string): string[] {
  const names = new Set<string>();
  for (const match of sql.matchAll(/\b(?:FROM|JOIN|TABLE)\s+(?!TABLE\b)(?!\()([`"]?)([A-Za-z_][\w.]*)\1/gi)) {
    names.add(match[2] as string);
  }
  return [...names];
}
