import { Eta } from 'eta';
import type { MeshloopConfig } from '../config';
import type { CatalogDescriptor } from '../domain/catalog';
import type { ProductSpec } from '../domain/spec';
import { workflowIdOf } from '../domain/spec';
import type { ProductQueryAnswer } from '../query/product-query';
import type { ProductStatus } from '../../workflows/definitions';
import type { ContractDocument } from './contract';
import type { ProductFilter, ProductRow } from './model';
import { formatAge, historySeries, scriptJson } from './model';
import type { Answer, HistoryCycle } from './sources';

/**
 * The pages, server-rendered with Eta: `<%= %>` escapes every value (record values, descriptions,
 * SQL, sample rows are untrusted); nothing here uses the raw `<%~ %>` except for HTML these
 * templates made themselves (a page's body inside the layout) and the JSON island, whose text
 * `scriptJson` makes safe inside a script element. Data for the graph and the chart travels in
 * that island, never in markup. The stylesheet's id is the one cytoscape looks for before it adds
 * a <style> element of its own (which the CSP refuses): our sheet carries its one rule instead.
 */

const eta = new Eta({ autoEscape: true, autoTrim: false, cache: true });

/** A service that did not answer, as a page says it. */
export type Outage = Readonly<{ service: string; message: string }>;

export const outagesOf = (...answers: ReadonlyArray<Answer<unknown>>): Outage[] =>
  answers.flatMap((a) => (a.ok ? [] : [{ service: a.service, message: a.message }]));

eta.loadTemplate(
  '@layout',
  `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title><%= it.title %> · Meshloop catalog</title>
<link rel="stylesheet" href="/assets/style.css" id="__________cytoscape_stylesheet">
</head>
<body>
<header><a class="brand" href="/">Meshloop catalog</a><a href="/">Products</a><a href="/graph">Lineage graph</a><span class="muted">read-only: approvals stay signed, in Slack, the CLI and the Temporal UI</span></header>
<main>
<% for (const outage of it.outages) { %><div class="banner error" role="alert"><strong><%= outage.service %> is unavailable:</strong> <%= outage.message %>. What depends on it is missing below; the page shows it again once the service answers (see <code>meshloop doctor</code>).</div>
<% } %><%~ it.body %>
</main>
<% if (it.pageData !== undefined) { %><script type="application/json" id="page-data"><%~ it.pageData %></script>
<% } %><% for (const file of it.vendor) { %><script src="/vendor/<%= file %>"></script>
<% } %><% if (it.pageData !== undefined) { %><script src="/assets/app.js"></script><% } %>
</body>
</html>
`,
);

eta.loadTemplate(
  '@list',
  `<% layout('@layout') %>
<h1>Products</h1>
<form class="filters" method="get" action="/" role="search">
<input type="search" name="q" placeholder="search id, owner, kind, description" value="<%= it.filter.q %>" aria-label="search">
<select name="domain" aria-label="domain"><option value="">every domain</option><% for (const d of it.domains) { %><option value="<%= d %>"<%= d === it.filter.domain ? ' selected' : '' %>><%= d %></option><% } %></select>
<select name="stage" aria-label="stage"><option value="">every stage</option><% for (const s of it.stages) { %><option value="<%= s %>"<%= s === it.filter.stage ? ' selected' : '' %>><%= s %></option><% } %></select>
<button type="submit">Filter</button>
</form>
<% if (it.problem) { %><div class="banner"><%= it.problem %></div><% } %>
<p class="muted" id="count"><%= it.rows.length %> of <%= it.total %> products</p>
<% if (it.rows.length === 0) { %><p>No product matches.</p><% } else { %>
<table id="products">
<thead><tr><th>Product</th><th>Stage</th><th>Owner</th><th>Domain</th><th>Kind</th><th>Critic</th><th>Rows</th><th>Freshness</th><th>Last analysis</th></tr></thead>
<tbody>
<% for (const r of it.rows) { %><tr data-product="<%= r.productId %>">
<td><a href="/products/<%= encodeURIComponent(r.productId) %>"><%= r.productId %></a><% if (r.description) { %><div class="muted description"><%= r.description %></div><% } %></td>
<td><span class="stage stage-<%= r.stage %>"><%= r.stage || '-' %></span></td>
<td><%= r.owner || '-' %></td><td><%= r.domain %></td><td><%= r.kind || '-' %></td>
<td title="<%= r.critic ? r.critic.summary : '' %>"><%= r.critic ? r.critic.verdict : '-' %></td>
<td class="num"><%= r.rows === undefined ? '-' : r.rows.toLocaleString('en') %></td>
<td><%= r.freshness %></td>
<td><%= r.lastAnalysis %></td>
</tr>
<% } %></tbody>
</table>
<% } %>`,
);

eta.loadTemplate(
  '@graph',
  `<% layout('@layout') %>
<h1>Lineage of the mesh</h1>
<p class="legend muted"><span>▭ grey: Kafka topic</span><span>● product (colour: stage)</span><span>dashed node: still a proposal</span><span>dotted edge: into a proposal, or from the product whose analysis proposed it (purple)</span></p>
<div id="graph" role="img" aria-label="lineage graph of <%= it.nodes.length %> nodes"></div>
<details><summary><%= it.nodes.length %> nodes, <%= it.edges %> edges (as text)</summary>
<ul id="graph-nodes"><% for (const n of it.nodes) { %><li data-node="<%= n.id %>"><% if (n.href) { %><a href="<%= n.href %>"><%= n.label %></a><% } else { %><%= n.label %><% } %> <span class="muted">(<%= n.kind %><%= n.stage ? ', ' + n.stage : '' %>)</span></li><% } %></ul>
</details>`,
);

eta.loadTemplate(
  '@message',
  `<% layout('@layout') %>
<h1><%= it.heading %></h1>
<p><%= it.text %></p>
<p><a href="/">Back to the products</a></p>`,
);

eta.loadTemplate(
  '@product',
  `<% layout('@layout') %>
<h1 id="product-id"><%= it.productId %></h1>
<dl class="facts">
<dt>Stage</dt><dd><span class="stage stage-<%= it.stage %>"><%= it.stage %></span></dd>
<dt>Domain</dt><dd><%= it.domain %></dd>
<dt>Owner</dt><dd><%= it.owner %></dd>
<dt>Kind</dt><dd><%= it.kind %></dd>
<dt>Description</dt><dd id="description"><%= it.description || '-' %></dd>
<dt>Critic</dt><dd><%= it.critic %></dd>
<dt>Table</dt><dd><%= it.table %></dd>
<dt>Output topic</dt><dd><%= it.outputTopic %></dd>
<dt>Inputs</dt><dd><% for (const i of it.inputs) { %><div><%= i.alias %> ← <% if (i.href) { %><a href="<%= i.href %>"><%= i.name %></a><% } else { %><%= i.name %><% } %> <span class="muted">(<%= i.kind %>)</span></div><% } %></dd>
<% if (it.parent) { %><dt>Proposed from</dt><dd><a href="/products/<%= encodeURIComponent(it.parent) %>"><%= it.parent %></a> <span class="muted">(its analysis)</span></dd><% } %>
<dt>Links</dt><dd><a id="temporal-link" href="<%= it.temporalUrl %>" rel="noreferrer">workflow in the Temporal UI</a><% if (it.flinkUrl) { %> · <a id="flink-link" href="<%= it.flinkUrl %>" rel="noreferrer">job <%= it.jobName %> in the Flink UI</a> <span class="muted">(<%= it.jobState %>)</span><% } else { %> · <span class="muted">no Flink job yet</span><% } %></dd>
</dl>

<section id="contract"><h2>Contract</h2>
<% if (it.contracts.length === 0) { %><p class="muted">Not in the catalog yet: the contract appears once the workflow publishes its descriptor.</p><% } %>
<% for (const c of it.contracts) { %><h3><%= c.title %> <a class="muted" href="/products/<%= encodeURIComponent(it.productId) %>/contract?format=<%= encodeURIComponent(c.format) %>">(raw)</a></h3><pre><%= c.text %></pre><% } %>
</section>

<section id="sql"><h2>SQL</h2><pre><%= it.sql || '(none)' %></pre></section>

<section id="lineage"><h2>Column lineage</h2>
<% if (it.lineage.length === 0) { %><p class="muted">No column lineage recorded (the SQL guard records it when it accepts the SQL).</p><% } else { %>
<table><thead><tr><th>Column</th><th>From</th></tr></thead><tbody>
<% for (const l of it.lineage) { %><tr><td><%= l.column %></td><td><%= l.from %></td></tr><% } %>
</tbody></table><% } %>
</section>

<section id="decisions"><h2>Decisions</h2>
<% if (it.decisions.length === 0) { %><p class="muted">No decisions yet.</p><% } else { %>
<table><thead><tr><th>When</th><th>Action</th><th>By</th><th>Via</th><th>Stage</th><th>Comment</th></tr></thead><tbody>
<% for (const d of it.decisions) { %><tr><td><%= d.at %></td><td><%= d.action %></td><td><%= d.by %></td><td><%= d.via || '-' %></td><td><%= d.stage %></td><td><%= d.comment || '' %></td></tr><% } %>
</tbody></table><% } %>
</section>

<section id="analysis"><h2>Analysis history</h2>
<% if (it.cycles.length === 0) { %><p class="muted">No analysis cycle yet (run one: <code>meshloop analyse <%= it.productId %></code>).</p><% } else { %>
<div class="chart-box"><canvas id="history-chart" aria-label="rows and breaches over <%= it.cycles.length %> cycles"></canvas></div>
<table id="cycles"><thead><tr><th>When</th><th>Outcome</th><th>Rows</th><th>Breaches</th><th>Findings</th></tr></thead><tbody>
<% for (const c of it.cycles) { %><tr><td><%= c.at %></td><td><%= c.outcome %></td><td class="num"><%= c.rows %></td><td><%= c.breaches %></td><td><%= c.findings %></td></tr><% } %>
</tbody></table><% } %>
</section>

<section id="sample"><h2>Sample rows</h2>
<% if (it.sample.note) { %><p class="muted"><%= it.sample.note %></p><% } else { %>
<p class="muted"><%= it.sample.caption %></p>
<table id="sample-rows"><thead><tr><% for (const c of it.sample.columns) { %><th><%= c %></th><% } %></tr></thead><tbody>
<% for (const row of it.sample.rows) { %><tr><% for (const cell of row) { %><td><%= cell %></td><% } %></tr><% } %>
</tbody></table><% } %>
</section>`,
);

export type Page = Readonly<{
  title: string;
  outages: readonly Outage[];
  pageData?: unknown;
  vendor?: readonly string[];
}>;

function render(template: string, page: Page, data: Record<string, unknown>): string {
  return eta.render(template, {
    ...data,
    title: page.title,
    outages: page.outages,
    vendor: page.vendor ?? [],
    pageData: page.pageData === undefined ? undefined : scriptJson(page.pageData),
  });
}

const lastAnalysisCell = (row: ProductRow) => {
  const last = row.lastAnalysis;
  if (!last) return '-';
  return `${last.outcome} ${last.at}${last.breaches > 0 ? `, ${last.breaches} breach${last.breaches === 1 ? '' : 'es'}` : ''}`;
};

const freshnessCell = (row: ProductRow) =>
  row.lastCommitAt
    ? `${formatAge(row.freshnessMs)} ago${row.withinSla === false ? ' (older than the SLA)' : ''}`
    : '-';

export function listPage(input: {
  outages: readonly Outage[];
  rows: readonly ProductRow[];
  total: number;
  filter: ProductFilter;
  problem?: string;
  domains: readonly string[];
  stages: readonly string[];
}): string {
  return render(
    '@list',
    { title: 'Products', outages: input.outages },
    {
      ...input,
      rows: input.rows.map((r) => ({ ...r, freshness: freshnessCell(r), lastAnalysis: lastAnalysisCell(r) })),
    },
  );
}

export function graphPage(input: {
  outages: readonly Outage[];
  graph: { nodes: ReadonlyArray<{ data: Record<string, unknown> }>; edges: readonly unknown[] };
}): string {
  return render(
    '@graph',
    {
      title: 'Lineage',
      outages: input.outages,
      pageData: { graph: input.graph },
      vendor: ['cytoscape.min.js', 'cytoscape-dagre.min.js'],
    },
    { nodes: input.graph.nodes.map((n) => n.data), edges: input.graph.edges.length },
  );
}

export function messagePage(heading: string, text: string, outages: readonly Outage[] = []): string {
  return render('@message', { title: heading, outages }, { heading, text });
}

/** Only http(s) links leave this site: a record could carry any URL, `javascript:` included. */
export function safeHref(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'http:' || parsed.protocol === 'https:' ? parsed.href : undefined;
  } catch {
    return undefined;
  }
}

const CELL_MAX = 300;
/** A sample cell as text: JSON for nested values, cut at CELL_MAX characters. */
export function cellText(value: unknown): string {
  const text =
    value === null || value === undefined
      ? ''
      : typeof value === 'string'
        ? value
        : (JSON.stringify(value) ?? '');
  return text.length > CELL_MAX ? `${text.slice(0, CELL_MAX)}…` : text;
}

export type ProductPageInput = Readonly<{
  config: MeshloopConfig;
  productId: string;
  descriptor?: CatalogDescriptor;
  status?: ProductStatus;
  row?: ProductRow;
  contracts: readonly ContractDocument[];
  cycles: readonly HistoryCycle[];
  sample: Answer<ProductQueryAnswer>;
  outages: readonly Outage[];
}>;

function sampleView(sample: Answer<ProductQueryAnswer>) {
  if (!sample.ok) return { note: `No sample rows: ${sample.message}` };
  const { columns, rows, table, snapshotId, truncated } = sample.value;
  if (rows.length === 0) return { note: `${table} has no rows at snapshot ${snapshotId ?? '-'}.` };
  return {
    caption: `${rows.length}${truncated ? ' (first)' : ''} rows of ${table} at snapshot ${snapshotId ?? '-'}`,
    columns,
    rows: rows.map((row) => columns.map((c) => cellText(row[c]))),
  };
}

function criticText(status: ProductStatus | undefined, row: ProductRow | undefined): string {
  const critique = status?.critique;
  if (critique) return `${critique.verdict} (${critique.by}): ${critique.reasons.slice(0, 5).join(' ')}`;
  return row?.critic ? `${row.critic.verdict}: ${row.critic.summary}` : '-';
}

function tableText(descriptor: CatalogDescriptor | undefined, row: ProductRow | undefined): string {
  const table = descriptor?.table;
  if (!table) return 'no Iceberg table yet';
  const rows = table.rowCount === undefined ? '? rows' : `${table.rowCount.toLocaleString('en')} rows`;
  return `${table.table}: ${rows}, last commit ${table.lastCommitAt ?? '-'} (${row ? freshnessCell(row) : '-'}), ${table.snapshots} snapshots`;
}

function specFacts(spec: ProductSpec) {
  return {
    domain: spec.domain,
    owner: spec.owner,
    kind: spec.kind,
    description: spec.description,
    outputTopic: spec.outputTopic.name,
    parent: spec.proposal?.parentProductId,
    sql: spec.sql ?? '',
    inputs: spec.inputs.map((i) =>
      'product' in i
        ? {
            alias: i.as ?? i.product,
            name: i.product,
            kind: 'product',
            href: `/products/${encodeURIComponent(i.product)}`,
          }
        : { alias: i.as ?? i.topic, name: i.topic, kind: 'topic' },
    ),
  };
}

/** What visibility alone tells of a product the catalog does not hold yet (and whose workflow did not answer). */
const rowFacts = (row: ProductRow | undefined) => ({
  domain: row?.domain ?? '-',
  owner: row?.owner ?? '-',
  kind: row?.kind ?? '-',
  description: '',
  outputTopic: '-',
  parent: undefined,
  sql: '',
  inputs: [],
});

/** Stage, domain, owner ...: the workflow's status first (live), then the descriptor, then visibility. */
function facts(input: ProductPageInput) {
  const { descriptor, status, row } = input;
  const spec = status?.spec ?? descriptor?.spec;
  return {
    ...(spec ? specFacts(spec) : rowFacts(row)),
    stage: status?.stage ?? row?.stage ?? descriptor?.stage ?? '-',
    critic: criticText(status, row),
    table: tableText(descriptor, row),
  };
}

/** The product's workflow in the Temporal UI, and its Flink job in the Flink UI (when it has one). */
function links(input: ProductPageInput) {
  const { config, productId } = input;
  const job = input.status?.job ?? input.descriptor?.job;
  const flinkUrl =
    safeHref(job?.url) ??
    (job?.id ? `${config.flink.restUrl}/#/job/running/${encodeURIComponent(job.id)}/overview` : undefined);
  return {
    temporalUrl:
      `${config.temporal.uiUrl}/namespaces/${encodeURIComponent(config.temporal.namespace)}` +
      `/workflows/${encodeURIComponent(workflowIdOf(productId))}`,
    flinkUrl,
    jobName: job?.name ?? '',
    jobState: job?.state ?? '',
  };
}

const cycleView = (c: HistoryCycle) => ({
  at: c.at,
  outcome: c.outcome,
  rows: c.rows,
  breaches: c.breaches.map((b) => `${b.rule}: ${b.failing} failing`).join('; ') || '-',
  findings: c.findings.join('; ') || '-',
});

export function productPage(input: ProductPageInput): string {
  const { productId, descriptor, status } = input;
  const lineage = status?.lineage ?? descriptor?.lineage ?? [];
  const cycles = [...input.cycles].sort((a, b) => b.at.localeCompare(a.at));
  const chart =
    cycles.length > 0 ? { pageData: { history: historySeries(cycles) }, vendor: ['chart.umd.min.js'] } : {};
  return render(
    '@product',
    { title: productId, outages: input.outages, ...chart },
    {
      productId,
      ...facts(input),
      ...links(input),
      contracts: input.contracts,
      lineage: lineage.map((l) => ({
        column: l.column,
        from: l.from.map((f) => `${f.input}.${f.field}`).join(', ') || '(computed)',
      })),
      decisions: status?.decisions ?? descriptor?.decisions ?? [],
      cycles: cycles.map(cycleView),
      sample: sampleView(input.sample),
    },
  );
}
