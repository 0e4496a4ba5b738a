import fs from 'node:fs';
import path from 'node:path';

/**
 * What the pages load besides their HTML, all from this server (the Content-Security-Policy allows
 * nothing else; the network may be closed): the libraries from node_modules, and our own small
 * script and stylesheet (kept here as text so `npm run build` ships them with the compiled code).
 */

/** The graph library, its dagre layout and the chart library, as their packages publish them (UMD builds). */
const vendorFiles: Readonly<Record<string, { pkg: string; file: string }>> = {
  'cytoscape.min.js': { pkg: 'cytoscape', file: 'cytoscape.min.js' },
  'cytoscape-dagre.min.js': { pkg: 'cytoscape-dagre', file: 'cytoscape-dagre.min.js' },
  'chart.umd.min.js': { pkg: 'chart.js', file: 'chart.umd.min.js' },
};

const loaded = new Map<string, Buffer>();

/** A vendor file by its name under /vendor/, read once; undefined for any other name. */
export function vendorFile(name: string): Buffer | undefined {
  const entry = Object.hasOwn(vendorFiles, name) ? vendorFiles[name] : undefined;
  if (!entry) return undefined;
  let content = loaded.get(name);
  if (!content) {
    // Each package's main file sits in its dist/ folder, beside the UMD build.
    const dist = path.dirname(require.resolve(entry.pkg));
    content = fs.readFileSync(path.join(dist, entry.file));
    loaded.set(name, content);
  }
  return content;
}

/**
 * Our script: reads the page's data from its JSON island (never from HTML), draws the lineage graph
 * (cytoscape, dagre layout, left to right) and the analysis chart (Chart.js). Labels are drawn on a
 * canvas, so no record value ever becomes markup here.
 */
export const appScript = String.raw`'use strict';
(function () {
  var island = document.getElementById('page-data');
  if (!island) return;
  var data = JSON.parse(island.textContent || '{}');
  var graphBox = document.getElementById('graph');
  if (data.graph && graphBox && window.cytoscape) {
    window.cytoscape.use(window.cytoscapeDagre);
    var cy = window.cytoscape({
      container: graphBox,
      elements: data.graph.nodes.concat(data.graph.edges),
      wheelSensitivity: 0.3,
      style: [
        { selector: 'node', style: { label: 'data(label)', 'font-size': 11, 'text-valign': 'bottom', 'text-margin-y': 4, width: 22, height: 22 } },
        { selector: 'node.topic', style: { shape: 'round-rectangle', 'background-color': '#8a94a6' } },
        { selector: 'node.product', style: { shape: 'ellipse', 'background-color': '#2f6fdf' } },
        { selector: 'node.stage-degraded', style: { 'background-color': '#d98a00' } },
        { selector: 'node.stage-failed, node.stage-rejected, node.stage-dismissed', style: { 'background-color': '#c23b3b' } },
        { selector: 'node.stage-retired, node.stage-deprecated, node.stage-expired', style: { 'background-color': '#b8bcc4' } },
        { selector: 'node.proposal', style: { 'background-opacity': 0.25, 'border-width': 2, 'border-style': 'dashed', 'border-color': '#2f6fdf' } },
        { selector: 'node.missing', style: { 'background-color': '#ffffff', 'border-width': 1, 'border-color': '#999' } },
        { selector: 'edge', style: { width: 1.5, 'curve-style': 'bezier', 'target-arrow-shape': 'triangle', 'line-color': '#9aa3b2', 'target-arrow-color': '#9aa3b2' } },
        { selector: 'edge.dotted', style: { 'line-style': 'dotted', width: 2 } },
        { selector: 'edge.derived', style: { 'line-color': '#7a4fd0', 'target-arrow-color': '#7a4fd0' } },
      ],
      layout: { name: 'dagre', rankDir: 'LR', nodeSep: 30, rankSep: 90 },
    });
    cy.on('tap', 'node', function (event) {
      var href = event.target.data('href');
      if (typeof href === 'string' && href.charAt(0) === '/') window.location.assign(href);
    });
    window.meshGraph = cy;
    graphBox.setAttribute('data-ready', String(cy.nodes().length));
  }
  var chartBox = document.getElementById('history-chart');
  if (data.history && chartBox && window.Chart) {
    window.historyChart = new window.Chart(chartBox, {
      data: {
        labels: data.history.labels,
        datasets: [
          { type: 'line', label: 'rows', data: data.history.rows, yAxisID: 'rows', borderColor: '#2f6fdf' },
          { type: 'bar', label: 'breaches', data: data.history.breaches, yAxisID: 'breaches', backgroundColor: '#c23b3b' },
        ],
      },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        scales: {
          rows: { type: 'linear', position: 'left', beginAtZero: true, title: { display: true, text: 'rows' } },
          breaches: { type: 'linear', position: 'right', beginAtZero: true, ticks: { precision: 0 }, grid: { drawOnChartArea: false }, title: { display: true, text: 'breaches' } },
        },
      },
    });
    chartBox.setAttribute('data-ready', String(data.history.labels.length));
  }
})();
`;

export const styleSheet = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 0; color: #1d2330; background: #f7f8fa; }
header { background: #1d2330; color: #fff; padding: 10px 20px; display: flex; gap: 20px; align-items: baseline; }
header a { color: #fff; text-decoration: none; }
header .brand { font-weight: 600; font-size: 16px; }
main { padding: 16px 20px; }
table { border-collapse: collapse; background: #fff; width: 100%; }
th, td { border-bottom: 1px solid #e3e6eb; padding: 5px 8px; text-align: left; vertical-align: top; }
th { background: #eef0f4; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #fff; border: 1px solid #e3e6eb; padding: 10px; overflow: auto; max-height: 420px; white-space: pre-wrap; word-break: break-word; }
.banner { background: #fff4e0; border: 1px solid #e0b060; padding: 8px 12px; margin-bottom: 12px; }
.banner.error { background: #fdeaea; border-color: #d07070; }
.stage { display: inline-block; padding: 0 6px; border-radius: 3px; background: #e6ecf8; }
.stage-active { background: #dff3e4; } .stage-degraded { background: #fff0d0; }
.stage-failed, .stage-rejected, .stage-dismissed { background: #fbdede; }
form.filters { display: flex; gap: 8px; margin-bottom: 12px; flex-wrap: wrap; }
form.filters input[type=search] { min-width: 260px; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; background: #fff; padding: 10px; border: 1px solid #e3e6eb; }
dl.facts dt { font-weight: 600; }
dl.facts dd { margin: 0; white-space: pre-wrap; word-break: break-word; }
section { margin: 20px 0; }
/* cytoscape's own rule (it adds no <style> element when a sheet has its id: see pages.ts) */
.__________cytoscape_container { position: relative; }
#graph { height: 70vh; background: #fff; border: 1px solid #e3e6eb; }
.chart-box { position: relative; height: 260px; background: #fff; border: 1px solid #e3e6eb; }
.muted { color: #6b7385; }
.legend span { margin-right: 16px; }
`;
