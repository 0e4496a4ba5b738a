import type { AnalysisCycleSummary } from '../domain/analysis';
import type { CatalogDescriptor } from '../domain/catalog';
import type { CriticMemo } from '../domain/critique';
import type { Stage } from '../domain/lifecycle';
import type { ProductInput } from '../domain/spec';
import { stages } from '../domain/lifecycle';

/**
 * What the web catalog shows, built from what its sources answered: the catalog's descriptors
 * (Kafka), the workflows' visibility rows (Temporal) and the last analysis cycles. Pure, so the
 * joins, the search and the graph are unit-tested without a server.
 */

/** A product as Temporal's visibility lists it (the search attributes and the critic's memo). */
export type WorkflowRow = Readonly<{
  productId: string;
  stage?: string;
  domain?: string;
  owner?: string;
  kind?: string;
  proposedAt?: string;
  critic?: Pick<CriticMemo, 'verdict' | 'summary'>;
}>;

/** The last analysis cycle of a product, as the list shows it. */
export type LastAnalysis = Pick<AnalysisCycleSummary, 'at' | 'outcome' | 'rows'> & { breaches: number };

export type ProductRow = Readonly<{
  productId: string;
  domain: string;
  name: string;
  stage: string;
  owner: string;
  kind: string;
  description: string;
  critic?: Pick<CriticMemo, 'verdict' | 'summary'>;
  rows?: number;
  lastCommitAt?: string;
  freshnessMs?: number;
  withinSla?: boolean;
  lastAnalysis?: LastAnalysis;
  /** Where the row came from: the catalog, Temporal, or both. */
  inCatalog: boolean;
  inTemporal: boolean;
}>;

const text = (value: unknown, max = 300): string =>
  typeof value === 'string' ? value.slice(0, max) : value === undefined || value === null ? '' : '';

function descriptorRow(d: CatalogDescriptor): ProductRow {
  const table = d.table;
  return {
    productId: d.productId,
    domain: d.domain,
    name: d.name,
    stage: d.stage,
    owner: d.owner,
    kind: d.kind,
    description: d.description,
    ...(table?.rowCount !== undefined ? { rows: table.rowCount } : {}),
    ...(table?.lastCommitAt ? { lastCommitAt: table.lastCommitAt } : {}),
    ...(table?.freshnessMs !== undefined ? { freshnessMs: table.freshnessMs } : {}),
    ...(table?.withinSla !== undefined ? { withinSla: table.withinSla } : {}),
    inCatalog: true,
    inTemporal: false,
  };
}

/** Temporal's row over the catalog's (its stage is fresher than the last descriptor), or alone. */
function withWorkflow(known: ProductRow | undefined, w: WorkflowRow): ProductRow {
  const [domain = '', ...rest] = w.productId.split('.');
  const base: ProductRow = known ?? {
    productId: w.productId,
    domain: text(w.domain) || domain,
    name: rest.join('.'),
    stage: '',
    owner: text(w.owner),
    kind: text(w.kind),
    description: '',
    inCatalog: false,
    inTemporal: true,
  };
  return {
    ...base,
    stage: text(w.stage) || base.stage,
    ...(w.critic ? { critic: w.critic } : {}),
    inTemporal: true,
  };
}

/**
 * One row per product: the catalog's descriptor where there is one (spec, table, lineage), Temporal's
 * visibility row otherwise; the stage from Temporal when it knows it (fresher than the last descriptor)
 * and the critic's verdict from the workflow's memo. Sorted by product id.
 */
export function productRows(
  descriptors: readonly CatalogDescriptor[],
  workflows: readonly WorkflowRow[],
  lastAnalyses: ReadonlyMap<string, LastAnalysis> = new Map(),
): ProductRow[] {
  const byId = new Map<string, ProductRow>(descriptors.map((d) => [d.productId, descriptorRow(d)]));
  for (const w of workflows) byId.set(w.productId, withWorkflow(byId.get(w.productId), w));
  return [...byId.values()]
    .map((row) => {
      const last = lastAnalyses.get(row.productId);
      return last ? { ...row, lastAnalysis: last } : row;
    })
    .sort((a, b) => a.productId.localeCompare(b.productId));
}

/** The list page's filters, parsed from its query string (anything else is ignored). */
export type ProductFilter = Readonly<{ q: string; domain: string; stage: string }>;

const stageNames = new Set<string>(stages);

/** Bounded and checked: an unknown stage filters nothing out but is reported. */
export function parseFilter(query: Readonly<Record<string, unknown>>): ProductFilter & { problem?: string } {
  const one = (value: unknown): unknown => (Array.isArray(value) ? (value as unknown[])[0] : value);
  const q = text(one(query.q), 200).trim();
  const domain = text(one(query.domain), 100).trim();
  const stage = text(one(query.stage), 40).trim();
  if (stage !== '' && !stageNames.has(stage))
    return { q, domain, stage: '', problem: `no stage '${stage}': pick one of ${stages.join(', ')}` };
  return { q, domain, stage };
}

/** Rows matching every filter: the search is case-insensitive over id, owner, kind and description. */
export function filterRows(rows: readonly ProductRow[], filter: ProductFilter): ProductRow[] {
  const needle = filter.q.toLowerCase();
  return rows.filter(
    (row) =>
      (filter.domain === '' || row.domain === filter.domain) &&
      (filter.stage === '' || row.stage === filter.stage) &&
      (needle === '' ||
        [row.productId, row.owner, row.kind, row.description].some((field) =>
          field.toLowerCase().includes(needle),
        )),
  );
}

/** The domains and stages present, for the filter menus. */
export function facets(rows: readonly ProductRow[]): { domains: string[]; stages: Stage[] } {
  const present = new Set(rows.map((r) => r.stage));
  return {
    domains: [...new Set(rows.map((r) => r.domain).filter((d) => d !== ''))].sort(),
    stages: stages.filter((s) => present.has(s)),
  };
}

/** `12 s`, `4 min`, `3 h`, `2 d`: how old a table's last commit is. */
export function formatAge(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms) || ms < 0) return '-';
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172_800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86_400)} d`;
}

/** Stages of a product that is still a proposal: its node and the edges into it are drawn dotted. */
const proposalStages = new Set<string>(['proposed', 'awaitingApproval', 'changesRequested']);

export type GraphNode = Readonly<{
  data: { id: string; label: string; kind: 'topic' | 'product'; stage?: string; href?: string };
  classes: string;
}>;
export type GraphEdge = Readonly<{
  data: { id: string; source: string; target: string; relation: 'reads' | 'derived' };
  classes: string;
}>;

const topicNode = (topic: string) => `topic:${topic}`;
const productNode = (productId: string) => `product:${productId}`;

/**
 * The node an input reads from: the product that writes the topic (or the product named), else the
 * raw topic; a product the catalog does not hold is drawn as missing.
 */
function sourceOf(
  input: ProductInput,
  writers: ReadonlyMap<string, string>,
  nodes: ReadonlyMap<string, GraphNode>,
): GraphNode {
  const upstream = 'product' in input ? input.product : writers.get(input.topic);
  const known = upstream === undefined ? undefined : nodes.get(productNode(upstream));
  if (known) return known;
  if ('topic' in input)
    return { data: { id: topicNode(input.topic), label: input.topic, kind: 'topic' }, classes: 'topic' };
  const id = productNode(input.product);
  return { data: { id, label: input.product, kind: 'product' }, classes: 'product missing' };
}

/**
 * The whole mesh as graph elements (cytoscape's shape): raw topics → the products that read them →
 * the products that read those; an edge from a product to each proposal derived from its analyses
 * (the spec's parentProductId), and every edge into a product that is still a proposal, dotted.
 * A product's own output topic is the product itself (another product reading it is a product edge).
 */
export function meshGraph(descriptors: readonly CatalogDescriptor[]): {
  nodes: GraphNode[];
  edges: GraphEdge[];
} {
  const nodes = new Map<string, GraphNode>();
  const edges = new Map<string, GraphEdge>();
  const writers = new Map(descriptors.map((d) => [d.spec.outputTopic.name, d.productId]));
  for (const d of descriptors) {
    nodes.set(productNode(d.productId), {
      data: {
        id: productNode(d.productId),
        label: d.productId,
        kind: 'product',
        stage: d.stage,
        href: `/products/${encodeURIComponent(d.productId)}`,
      },
      classes: `product stage-${d.stage}${proposalStages.has(d.stage) ? ' proposal' : ''}`,
    });
  }
  const edge = (source: string, target: string, relation: 'reads' | 'derived', dotted: boolean) => {
    const id = `${relation}:${source}->${target}`;
    edges.set(id, {
      data: { id, source, target, relation },
      classes: `${relation}${dotted ? ' dotted' : ''}`,
    });
  };
  for (const d of descriptors) {
    const target = productNode(d.productId);
    const dotted = proposalStages.has(d.stage);
    for (const input of d.spec.inputs) {
      const source = sourceOf(input, writers, nodes);
      if (!nodes.has(source.data.id)) nodes.set(source.data.id, source);
      edge(source.data.id, target, 'reads', dotted);
    }
    const parent = d.spec.proposal?.parentProductId;
    if (parent !== undefined && nodes.has(productNode(parent)))
      edge(productNode(parent), target, 'derived', true);
  }
  return { nodes: [...nodes.values()], edges: [...edges.values()] };
}

/** Chart series of a product's analysis history, oldest first: rows read and breaches per cycle. */
export function historySeries(
  cycles: readonly Pick<AnalysisCycleSummary, 'at' | 'outcome' | 'rows' | 'breaches'>[],
): {
  labels: string[];
  rows: number[];
  breaches: number[];
} {
  const sorted = [...cycles].sort((a, b) => a.at.localeCompare(b.at));
  return {
    labels: sorted.map((c) => c.at),
    rows: sorted.map((c) => c.rows),
    breaches: sorted.map((c) => c.breaches.length),
  };
}

/** JSON for a `<script type="application/json">` element: no `<`, so no `</script>` can end it early. */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}
