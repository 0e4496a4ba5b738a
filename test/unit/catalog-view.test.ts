import assert from 'node:assert/strict';
import type { Decoded } from '../../src/adapters/kafka/catalog';
import {
  decodeCatalogDescriptor,
  decodeRawRecord,
  NewestByKey,
  signedRecordJson,
  UNSIGNED_PROBLEM,
} from '../../src/adapters/kafka/catalog';
import type { CatalogDescriptor } from '../../src/domain/catalog';
import {
  CATALOG_SIGNATURE_PURPOSE,
  parseCatalogDescriptor,
  supersedes,
  toCatalogDescriptor,
} from '../../src/domain/catalog';
import { RecordKey } from '../../src/signing/record-key';
import { CatalogView } from '../../src/domain/catalog-view';
import type { Stage } from '../../src/domain/lifecycle';
import { validSpec } from '../helpers/specs';

const descriptor = (
  name: string,
  stage: Stage,
  overrides: Record<string, unknown> = {},
  extra: Partial<Parameters<typeof toCatalogDescriptor>[0]> = {},
): CatalogDescriptor =>
  toCatalogDescriptor({
    spec: validSpec({ name, ...overrides }),
    stage,
    decisions: [],
    resources: [],
    updatedAt: '2026-12-01T06:00:00.000Z',
    ...extra,
  });

/** A record as the catalog topic holds it: JSON. */
const asStored = (value: unknown): unknown => JSON.parse(JSON.stringify(value));

const parsed = (value: unknown): CatalogDescriptor => {
  const result = parseCatalogDescriptor(value);
  if (!result.ok) assert.fail(result.problem);
  return result.descriptor;
};

const problemOf = (value: unknown): string => {
  const result = parseCatalogDescriptor(value);
  if (result.ok) assert.fail(`parsed: ${JSON.stringify(value)}`);
  return result.problem;
};

/**
 * A descriptor as the first version wrote it (commit 076b903): no version, table, lineage or job;
 * the spec as parsed then (no analysis, sql, materialization).
 */
const firstVersionRecord = {
  productId: 'orders.daily_revenue',
  domain: 'orders',
  name: 'daily_revenue',
  owner: 'alice',
  kind: 'aggregate',
  stage: 'active',
  description: 'Revenue per channel per day.',
  inputs: [{ topic: 'orders.placed' }],
  outputTopic: {
    name: 'orders.daily_revenue',
    partitions: 3,
    retentionMs: 604800000,
    cleanupPolicy: 'delete',
  },
  tags: [],
  spec: {
    name: 'daily_revenue',
    domain: 'orders',
    owner: 'alice',
    description: 'Revenue per channel per day.',
    kind: 'aggregate',
    inputs: [{ topic: 'orders.placed' }],
    outputTopic: {
      name: 'orders.daily_revenue',
      partitions: 3,
      retentionMs: 604800000,
      cleanupPolicy: 'delete',
    },
    schema: {
      fields: [
        { name: 'day', type: 'date', nullable: true, description: '', pii: false },
        { name: 'revenue', type: 'decimal', nullable: true, description: '', pii: false },
      ],
      key: ['day'],
    },
    sla: { freshness: '1h', availability: 0.99 },
    quality: [],
    classification: { pii: false, level: 'internal', masking: [] },
    tags: [],
  },
  decisions: [
    { by: 'alice', action: 'approve', at: '2026-11-21T17:00:00.000Z', revision: 1, stage: 'provisioning' },
  ],
  resources: [
    { kind: 'kafkaTopic', name: 'orders.daily_revenue', created: true, at: '2026-11-21T17:00:01.000Z' },
  ],
  updatedAt: '2026-11-21T17:00:02.000Z',
};

describe('catalog descriptors, parsed', () => {
  it('reads back what toCatalogDescriptor wrote, through JSON', () => {
    const written = descriptor(
      'daily_revenue',
      'active',
      {},
      {
        decisions: [
          {
            by: 'alice',
            action: 'approve',
            at: '2026-01-01T00:00:00.000Z',
            revision: 1,
            stage: 'provisioning',
          },
        ],
        resources: [
          { kind: 'kafkaTopic', name: 'orders.daily_revenue', created: true, at: '2026-01-01T00:00:01Z' },
        ],
        table: {
          table: 'lake.orders.daily_revenue',
          provider: 'flink',
          snapshotId: '42',
          rowCount: 3,
          snapshots: 1,
        },
        lineage: [{ column: 'day', from: [{ input: 'orders', field: 'ts' }] }],
        job: {
          name: 'meshloop-create:orders.daily_revenue:r1',
          id: 'abc',
          revision: 1,
          sql: 'SELECT 1',
          state: 'RUNNING',
          rejectedRecords: 0,
          checkedAt: '2026-01-01T00:00:02Z',
        },
        version: 4,
      },
    );
    assert.deepEqual(parsed(asStored(written)), asStored(written));
  });

  it('reads descriptors written by the first version (no version, table, lineage or job)', () => {
    const old = parsed(asStored(firstVersionRecord));
    assert.equal(old.productId, 'orders.daily_revenue');
    assert.equal(old.stage, 'active');
    assert.equal(old.version, 0);
    assert.equal(old.spec.analysis.every, '1h', 'defaults of later spec fields filled in');
    assert.equal(old.table, undefined);
    assert.equal(old.job, undefined);
    assert.deepEqual(
      old.decisions.map((d) => d.action),
      ['approve'],
    );
    assert.equal(old.resources[0]?.name, 'orders.daily_revenue');
  });

  it('rebuilds the top-level copies from the spec (only the spec is read)', () => {
    const record = { ...firstVersionRecord, owner: 'mallory', inputs: 'nonsense', outputTopic: undefined };
    const read = parsed(asStored(record));
    assert.equal(read.owner, 'alice');
    assert.deepEqual(read.inputs, [{ topic: 'orders.placed' }]);
    assert.equal(read.outputTopic.name, 'orders.daily_revenue');
  });

  it('skips what is not a descriptor, saying why', () => {
    assert.match(problemOf(null), /not a catalog descriptor/);
    assert.match(problemOf([1, 2]), /not a catalog descriptor/);
    assert.match(problemOf('orders.x'), /not a catalog descriptor/);
    assert.match(problemOf({ productId: 'orders.x', stage: 'active' }), /spec/);
    assert.match(problemOf({ ...firstVersionRecord, productId: '' }), /productId/);
    assert.match(problemOf({ ...firstVersionRecord, stage: 'dancing' }), /stage/);
    assert.match(problemOf({ ...firstVersionRecord, stage: { evil: true } }), /stage/);
    assert.match(problemOf({ ...firstVersionRecord, decisions: 'many' }), /decisions/);
    assert.match(problemOf({ ...firstVersionRecord, updatedAt: undefined }), /updatedAt/);
    assert.match(
      problemOf({ ...firstVersionRecord, spec: { ...firstVersionRecord.spec, kind: 'whatever' } }),
      /kind/,
    );
    assert.match(
      problemOf({ ...firstVersionRecord, productId: 'orders.other' }),
      /product orders\.other carries the spec of orders\.daily_revenue/,
    );
  });

  it('leaves out a part only some readers show when it does not parse, keeping the product', () => {
    const read = parsed({
      ...firstVersionRecord,
      decisions: [firstVersionRecord.decisions[0], { by: 'x', action: 'explode' }, null],
      resources: [{ kind: 'spaceship', name: 'x' }, ...firstVersionRecord.resources],
      table: { table: 42 },
      job: { state: 'ON_FIRE' },
      lineage: 'all of it',
      version: -3,
    });
    assert.equal(read.decisions.length, 1);
    assert.deepEqual(
      read.resources.map((r) => r.kind),
      ['kafkaTopic'],
    );
    assert.equal(read.table, undefined);
    assert.equal(read.job, undefined);
    assert.equal(read.lineage, undefined);
    assert.equal(read.version, 0);
  });
});

describe('CatalogView', () => {
  const curated = descriptor(
    'orders_curated',
    'active',
    { kind: 'source-aligned' },
    {
      resources: [
        { kind: 'kafkaTopic', name: 'orders.orders_curated', created: true, at: '2026-12-01T06:00:00Z' },
      ],
    },
  );
  const revenue = descriptor('daily_revenue', 'active', {
    inputs: [{ product: 'orders.orders_curated' }, { topic: 'orders.placed' }],
    proposal: {
      proposedBy: { kind: 'agent', name: 'llm-analyst' },
      parentProductId: 'orders.orders_curated',
    },
  });
  const draft = descriptor('by_channel', 'awaitingApproval', {
    inputs: [{ product: 'orders.orders_curated' }],
    outputTopic: { name: 'orders.orders_curated' },
    proposal: {
      proposedBy: { kind: 'agent', name: 'llm-analyst' },
      parentProductId: 'orders.orders_curated',
    },
  });
  const retiredReader = descriptor('old_report', 'retired', {
    inputs: [{ product: 'orders.orders_curated' }],
  });
  const view = new CatalogView([curated, revenue, draft, retiredReader]);

  it('holds every descriptor, one per product, in the order the catalog first held them', () => {
    assert.equal(view.size, 4);
    assert.deepEqual(
      view.all().map((d) => d.productId),
      ['orders.orders_curated', 'orders.daily_revenue', 'orders.by_channel', 'orders.old_report'],
    );
    const newer = { ...curated, stage: 'degraded' as const };
    const twice = new CatalogView([curated, revenue, newer]);
    assert.deepEqual(
      twice.all().map((d) => [d.productId, d.stage]),
      [
        ['orders.orders_curated', 'degraded'],
        ['orders.daily_revenue', 'active'],
      ],
    );
    assert.equal(CatalogView.empty.size, 0);
  });

  it('answers spec, stage and upstreams of a product', () => {
    assert.equal(view.specOf('orders.orders_curated')?.kind, 'source-aligned');
    assert.equal(view.specOf('orders.nope'), undefined);
    assert.equal(view.stageOf('orders.by_channel'), 'awaitingApproval');
    assert.equal(view.stageOf('orders.nope'), undefined);
    assert.deepEqual(view.upstreamsOf('orders.daily_revenue'), ['orders.orders_curated']);
    assert.deepEqual(view.upstreamsOf('orders.nope'), []);
    assert.equal(view.get('orders.daily_revenue'), revenue);
  });

  it('says who writes a topic and whether a product made it', () => {
    assert.deepEqual(view.writersOf('orders.orders_curated'), ['orders.orders_curated', 'orders.by_channel']);
    assert.deepEqual(view.writersOf('orders.placed'), []);
    assert.equal(view.madeTopic('orders.orders_curated', 'orders.orders_curated'), true);
    assert.equal(view.madeTopic('orders.by_channel', 'orders.orders_curated'), false, 'naming it is a wish');
    assert.equal(view.madeTopic('orders.nope', 'orders.orders_curated'), false);
  });

  it('finds active dependants and the children of an idea', () => {
    assert.deepEqual(view.activeDependantsOf('orders.orders_curated'), ['orders.daily_revenue']);
    assert.deepEqual(view.activeDependantsOf('orders.daily_revenue'), []);
    assert.deepEqual(view.childrenOf('orders.orders_curated'), [
      { productId: 'orders.by_channel', stage: 'awaitingApproval' },
      { productId: 'orders.daily_revenue', stage: 'active' },
    ]);
  });

  it('lists the topic each product writes, for discovery', () => {
    assert.deepEqual(view.productTopics()[1], {
      productId: 'orders.daily_revenue',
      topic: 'orders.daily_revenue',
      stage: 'active',
      inputTopics: ['orders.placed'],
    });
  });
});

describe('catalog records, newest per key', () => {
  const key = RecordKey.generate();
  const bytes = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value));
  /** As the worker publishes it: signed with its record key. */
  const signed = (value: CatalogDescriptor, by: RecordKey = key, under = value.productId) =>
    Buffer.from(signedRecordJson(CATALOG_SIGNATURE_PURPOSE, under, value, by));
  const versioned = (name: string, stage: Stage, version: number, runStartedAt?: string) =>
    descriptor(
      name,
      stage,
      {},
      { version, ...(runStartedAt ? { run: { id: `run-${runStartedAt}`, startedAt: runStartedAt } } : {}) },
    );
  const newestOf = () =>
    new NewestByKey((k: string, value: Buffer) => decodeCatalogDescriptor(k, value, key), supersedes);

  it('parses signed descriptors: skips and counts what does not parse, keeps the highest version', () => {
    const newest = newestOf();
    const problems = [
      newest.add('orders.a', signed(versioned('a', 'active', 5))),
      newest.add('orders.bad', bytes('not json {')),
      newest.add('orders.arr', bytes([1, 2])),
      // A late attempt of an older publish must not win; a malformed newer one neither.
      newest.add('orders.a', signed(versioned('a', 'awaitingApproval', 3))),
      newest.add('orders.a', bytes({ productId: 'orders.a', stage: 'retired', version: 99 })),
      newest.add('orders.b', signed(versioned('b', 'active', 0))),
      newest.add('orders.b', signed(versioned('b', 'retired', 7))),
      // A descriptor under another product's key (signed for that key: still not that product).
      newest.add('orders.c', signed(versioned('b', 'active', 8), key, 'orders.c')),
      newest.add('orders.gone', signed(versioned('gone', 'active', 1))),
      newest.add('orders.gone', null),
      newest.add(undefined, signed(versioned('a', 'active', 9))),
    ];
    assert.equal(newest.skipped, 4);
    assert.deepEqual(
      problems.map((p) => p !== undefined),
      [false, true, true, false, true, false, false, true, false, false, false],
    );
    assert.match(problems[7] ?? '', /the descriptor of orders\.b under the key orders\.c/);
    const view = new CatalogView(newest.records.values());
    assert.deepEqual(
      view.all().map((d) => [d.productId, d.stage]),
      [
        ['orders.a', 'active'],
        ['orders.b', 'retired'],
      ],
    );
  });

  it('ignores and counts descriptors the record key did not sign, whatever their version', () => {
    const newest = newestOf();
    newest.add('orders.a', signed(versioned('a', 'active', 5)));
    const forged = versioned('a', 'retired', Number.MAX_SAFE_INTEGER, '2999-01-01T00:00:00.000Z');
    const attempts = [
      // No signature at all, a huge version and a run far in the future.
      bytes(forged),
      // A valid-looking signature: the right scheme and key id, the wrong MAC.
      bytes({ ...forged, signature: `hmac-sha256:${key.id}:${'A'.repeat(43)}` }),
      // Signed, by another key.
      signed(forged, RecordKey.generate()),
      // A genuine signature copied from an older descriptor onto changed content.
      bytes({
        ...(JSON.parse(signed(versioned('a', 'active', 5)).toString()) as object),
        stage: 'retired',
        version: 1_000_000,
      }),
      // Signed for another purpose (a topic claim), under this key.
      Buffer.from(signedRecordJson('topic-claim', 'orders.a', forged, key)),
    ];
    for (const attempt of attempts) assert.equal(newest.add('orders.a', attempt), UNSIGNED_PROBLEM);
    assert.equal(newest.skipped, attempts.length);
    assert.equal(newest.unsigned, attempts.length);
    assert.equal(newest.records.get('orders.a')?.stage, 'active');
    assert.equal(newest.records.get('orders.a')?.version, 5);
  });

  it('a product proposed again after retirement is not shadowed by its old life (later run wins)', () => {
    const newest = newestOf();
    newest.add('orders.a', signed(versioned('a', 'retired', 40, '2026-12-01T06:00:00.000Z')));
    newest.add('orders.a', signed(versioned('a', 'awaitingApproval', 1, '2026-12-02T06:00:00.000Z')));
    assert.equal(newest.records.get('orders.a')?.stage, 'awaitingApproval');
    // The old life's descriptors, read again later (a replay of a genuine record), do not win back.
    newest.add('orders.a', signed(versioned('a', 'retired', 40, '2026-12-01T06:00:00.000Z')));
    assert.equal(newest.records.get('orders.a')?.stage, 'awaitingApproval');
    // A descriptor of a continued run of the new life, with a higher version, wins.
    newest.add('orders.a', signed(versioned('a', 'active', 4, '2026-12-03T06:00:00.000Z')));
    assert.equal(newest.records.get('orders.a')?.stage, 'active');
    // Descriptors from before runs were recorded are older than any with a run.
    newest.add('orders.a', signed(versioned('a', 'retired', 99)));
    assert.equal(newest.records.get('orders.a')?.stage, 'active');
  });

  it('reads raw records (topic owners, proposals ledger): JSON objects with a product id', () => {
    const newest = new NewestByKey(
      (_key, value): Decoded<unknown> => decodeRawRecord(value),
      () => true,
    );
    newest.add('orders.t', bytes({ productId: 'orders.a', topic: 'orders.t' }));
    newest.add('orders.t', bytes({ productId: 'orders.b', topic: 'orders.t' }));
    newest.add('orders.u', bytes({ topic: 'orders.u' }));
    newest.add('orders.v', bytes([]));
    assert.equal(newest.skipped, 2);
    assert.deepEqual([...newest.records], [['orders.t', { productId: 'orders.b', topic: 'orders.t' }]]);
  });
});
