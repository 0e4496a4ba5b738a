import assert from 'node:assert/strict';
import { toCatalogDescriptor } from '../../src/domain/catalog';
import type { Stage } from '../../src/domain/lifecycle';
import { facets, filterRows, meshGraph, parseFilter, productRows, scriptJson } from '../../src/web/model';
import { cellText, listPage, safeHref } from '../../src/web/pages';
import { AnswerCache } from '../../src/web/sources';
import { validSpec } from '../helpers/specs';

const descriptor = (name: string, stage: Stage, overrides: Record<string, unknown> = {}) =>
  toCatalogDescriptor({
    spec: validSpec({ name, ...overrides }),
    stage,
    decisions: [],
    resources: [],
    updatedAt: '2026-12-01T00:00:00.000Z',
  });

describe('web catalog: rows, filters, graph, escaping (pure)', () => {
  it('merges the catalog with Temporal visibility: Temporal’s stage and critic win, products only in Temporal are listed', () => {
    const rows = productRows(
      [descriptor('a', 'provisioning')],
      [
        { productId: 'orders.a', stage: 'active', critic: { verdict: 'propose', summary: 's' } },
        { productId: 'payments.only_temporal', stage: 'awaitingApproval', owner: 'bob', kind: 'aggregate' },
      ],
      new Map([['orders.a', { at: '2026-12-01T10:00:00Z', outcome: 'pass' as const, rows: 5, breaches: 0 }]]),
    );
    assert.deepEqual(
      rows.map((r) => [
        r.productId,
        r.stage,
        r.domain,
        r.owner,
        r.inCatalog,
        r.critic?.verdict,
        r.lastAnalysis?.rows,
      ]),
      [
        ['orders.a', 'active', 'orders', 'alice', true, 'propose', 5],
        ['payments.only_temporal', 'awaitingApproval', 'payments', 'bob', false, undefined, undefined],
      ],
    );
  });

  it('filters by search text, domain and stage; an unknown stage is reported, not applied', () => {
    const rows = productRows(
      [descriptor('a', 'active'), descriptor('b', 'failed', { description: 'Special refunds' })],
      [],
    );
    assert.deepEqual(
      filterRows(rows, parseFilter({ q: 'REFUNDS' })).map((r) => r.productId),
      ['orders.b'],
    );
    assert.deepEqual(
      filterRows(rows, parseFilter({ stage: 'active', domain: 'orders' })).map((r) => r.productId),
      ['orders.a'],
    );
    const bogus = parseFilter({ stage: 'bogus', q: ['x', 'y'] });
    assert.match(bogus.problem ?? '', /no stage 'bogus'/);
    assert.equal(bogus.q, 'x');
    assert.equal(filterRows(rows, { ...bogus, q: '' }).length, 2);
    assert.deepEqual(facets(rows), { domains: ['orders'], stages: ['active', 'failed'] });
  });

  it('draws topics → products → products; a derived proposal’s edges are dotted; a missing upstream is marked', () => {
    const graph = meshGraph([
      descriptor('a', 'active', { outputTopic: { name: 'orders.a.out' } }),
      descriptor('b', 'active', { inputs: [{ topic: 'orders.a.out' }, { product: 'orders.gone' }] }),
      descriptor('c', 'awaitingApproval', {
        inputs: [{ product: 'orders.a' }],
        proposal: { proposedBy: { kind: 'agent', name: 'analyst' }, parentProductId: 'orders.a' },
      }),
    ]);
    const edges = Object.fromEntries(graph.edges.map((e) => [e.data.id, e.classes]));
    assert.deepEqual(edges, {
      'reads:topic:orders.placed->product:orders.a': 'reads',
      'reads:product:orders.a->product:orders.b': 'reads',
      'reads:product:orders.gone->product:orders.b': 'reads',
      'reads:product:orders.a->product:orders.c': 'reads dotted',
      'derived:product:orders.a->product:orders.c': 'derived dotted',
    });
    assert.equal(graph.nodes.find((n) => n.data.id === 'product:orders.gone')?.classes, 'product missing');
    assert.match(graph.nodes.find((n) => n.data.id === 'product:orders.c')?.classes ?? '', /proposal/);
  });

  it('escapes record values in pages, JSON islands and links', () => {
    const hostile = '<img src=x onerror=alert(1)>"\'&';
    const html = listPage({
      outages: [{ service: 'Kafka', message: '<b>down</b>' }],
      rows: productRows([descriptor('a', 'active', { description: hostile })], []),
      total: 1,
      filter: { q: hostile, domain: '', stage: '' },
      domains: ['orders'],
      stages: ['active'],
    });
    assert.ok(!html.includes('<img'), 'no markup from a record');
    assert.ok(!html.includes('<b>down'), 'no markup from an error');
    assert.ok(html.includes('&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;'));
    assert.equal(scriptJson({ x: '</script><script>' }), '{"x":"\\u003c/script\\u003e\\u003cscript\\u003e"}');
    assert.equal(safeHref('javascript:alert(1)'), undefined);
    assert.equal(safeHref('http://127.0.0.1:8081/#/job/1'), 'http://127.0.0.1:8081/#/job/1');
    assert.equal(cellText({ a: 1 }), '{"a":1}');
    assert.equal(cellText('x'.repeat(400)).length, 301);
  });

  it('caches an answer, serves a stale one while one reload runs, and keeps a failure only briefly', async () => {
    let now = 0;
    const cache = new AnswerCache(() => now);
    let loads = 0;
    const load = () => Promise.resolve(++loads);
    assert.deepEqual(await cache.get('k', 'S', load), { ok: true, value: 1 });
    assert.deepEqual(await cache.get('k', 'S', load), { ok: true, value: 1 });
    now = 10_000;
    assert.deepEqual(await cache.get('k', 'S', load), { ok: true, value: 1 }, 'stale while reloading');
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(await cache.get('k', 'S', load), { ok: true, value: 2 });
    const failing = await cache.get('f', 'Kafka', () => Promise.reject(new Error('ECONNREFUSED')));
    assert.deepEqual(failing, { ok: false, service: 'Kafka', message: 'ECONNREFUSED' });
    now += 3_000;
    assert.deepEqual(await cache.get('f', 'Kafka', () => Promise.resolve(7)), { ok: true, value: 7 });
  });
});
