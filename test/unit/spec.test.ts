import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { formatDuration, parseDuration } from '../../src/domain/duration';
import { InvalidSpecError } from '../../src/domain/errors';
import { amendRequestSchema, MAX_SPEC_JSON_LENGTH } from '../../src/domain/messages';
import {
  MAX_SPEC_BYTES,
  parseSpec,
  productIdOf,
  productIdOfWorkflowId,
  specJsonBytes,
  workflowIdOf,
} from '../../src/domain/spec';
import { checkStartInput } from '../../workflows/product/start-input';
import { loadSpecFile, parseSpecText } from '../../src/specs/load';
import { rawSpec as minimalSpec, rawSpec } from '../helpers/specs';

const fixtures = path.join(__dirname, '..', 'fixtures', 'specs');

function problemsOf(value: unknown): string[] {
  try {
    parseSpec(value);
  } catch (error) {
    assert.ok(error instanceof InvalidSpecError, `expected InvalidSpecError, got ${String(error)}`);
    return [...error.problems];
  }
  assert.fail('the spec was accepted');
}

describe('product spec', () => {
  it('loads a YAML spec file with every part', async () => {
    const spec = await loadSpecFile(path.join(fixtures, 'orders.daily_revenue.yaml'));
    assert.equal(productIdOf(spec), 'orders.daily_revenue');
    assert.deepEqual(spec.outputTopic, {
      name: 'orders.daily_revenue',
      partitions: 6,
      retentionMs: 2_592_000_000,
      cleanupPolicy: 'compact,delete',
    });
    assert.deepEqual(spec.inputs, [{ topic: 'orders.placed' }, { product: 'payments.captures' }]);
    assert.deepEqual(spec.schema.key, ['day', 'channel', 'region']);
    assert.equal(spec.schema.eventTimeField, 'window_end');
    assert.equal(spec.sla.availability, 0.999);
    assert.equal(spec.proposal?.proposedBy.kind, 'agent');
    assert.equal(spec.proposal?.confidence, 0.8);
  });

  it('loads a JSON spec file and fills in defaults', async () => {
    const spec = await loadSpecFile(path.join(fixtures, 'customers.profiles.json'));
    assert.equal(spec.outputTopic.name, 'customers.profiles');
    assert.equal(spec.outputTopic.partitions, 3);
    assert.equal(spec.outputTopic.retentionMs, -1);
    assert.deepEqual(spec.sla, { freshness: '1h', availability: 0.99 });
    assert.equal(spec.schema.fields[1]?.pii, true);
    assert.equal(spec.proposal, undefined);
  });

  it('defaults the output topic to <domain>.<name>, 3 partitions, 7 days, delete', () => {
    const spec = parseSpec(minimalSpec());
    assert.deepEqual(spec.outputTopic, {
      name: 'orders.daily_revenue',
      partitions: 3,
      retentionMs: 7 * 86_400_000,
      cleanupPolicy: 'delete',
    });
    assert.deepEqual(spec.tags, []);
    assert.deepEqual(spec.classification, { pii: false, level: 'internal', masking: [] });
  });

  it('lists every problem of a wrong spec with its path, in one error', () => {
    const problems = problemsOf({
      ...minimalSpec(),
      name: 'daily revenue',
      owner: undefined,
      kind: 'derived',
      inputs: [{ topic: 'orders.placed' }, { table: 'x' }],
      outputTopic: { partitions: 0, cleanupPolicy: 'archive' },
      schema: {
        fields: [
          { name: 'day', type: 'date' },
          { name: 'day', type: 'varchar' },
        ],
        key: ['id'],
      },
      sla: { freshness: 'soon', availability: 99.9 },
      quality: [{ rule: 'notNull', field: 'amount' }],
      proposal: { proposedBy: { kind: 'agent', name: 'discovery' }, confidence: 1.5 },
      colour: 'blue',
    });
    assert.deepEqual(problems.sort(), [
      'colour: unknown field (a typo?)',
      "inputs[1]: must be { topic: '<kafka topic>', as?, format?, schema? } or { product: '<domain>.<name>', as? }",
      'kind: must be one of source-aligned, aggregate, consumer-aligned',
      'name: must not contain dots or spaces',
      'outputTopic.cleanupPolicy: must be one of delete, compact, compact,delete',
      'outputTopic.partitions: must be ≥ 1',
      'owner: is required',
      'proposal.confidence: must be between 0 and 1',
      "quality[0].field: no field 'amount' in schema.fields",
      "schema.fields[1].name: duplicate field 'day'",
      'schema.fields[1].type: must be one of string, int, long, float, double, decimal, boolean, date, timestamp, bytes, json',
      "schema.key[0]: no field 'id' in schema.fields",
      'sla.availability: must be ≤ 1 (a ratio, e.g. 0.999)',
      "sla.freshness: must be a duration like '30s', '15m', '72h' or '7d'",
    ]);
  });

  it('puts the problems in the error message, one per line', () => {
    assert.throws(
      () => parseSpec(minimalSpec({ outputTopic: { partitions: 1.5 } })),
      (error: unknown) =>
        error instanceof InvalidSpecError &&
        error.type === 'InvalidSpec' &&
        !error.retryable &&
        error.message.includes('\n  - outputTopic.partitions: must be a whole number'),
    );
  });

  it('refuses output topics named like another product’s derived topics or an internal topic', () => {
    const problemsOf = (overrides: Record<string, unknown>) => {
      try {
        parseSpec({ ...minimalSpec(), ...overrides });
        return [];
      } catch (error) {
        assert.ok(error instanceof InvalidSpecError);
        return error.problems;
      }
    };
    for (const [name, why] of [
      [
        'orders.daily_revenue.rejected',
        /outputTopic\.name: must not end with "\.rejected": that names another product's rejected-records topic/,
      ],
      ['orders.daily_revenue.Rejected', /must not end with "\.rejected"/],
      [
        'orders.daily_revenue_dlq',
        /outputTopic\.name: must not end with "_dlq": that names another product's dead-letter topic/,
      ],
      ['_meshloop.catalog', /must not start with "_"/],
      ['__consumer_offsets', /must not start with "_"/],
      ['_confluent-command', /must not start with "_"/],
      ['orders/revenue', /must be a Kafka topic name/],
    ] as const) {
      const problems = problemsOf({ outputTopic: { name } });
      assert.equal(problems.length, 1, `${name}: ${problems.join('; ')}`);
      assert.match(problems[0] ?? '', why);
    }
    // The default name counts too: a product called `rejected` would write `<domain>.rejected`.
    assert.match(
      problemsOf({ name: 'rejected' }).join('; '),
      /name: gives the output topic orders\.rejected, which must not end/,
    );
    assert.match(
      problemsOf({ name: 'revenue_dlq' }).join('; '),
      /that names another product's dead-letter table/,
    );
    assert.deepEqual(problemsOf({ outputTopic: { name: 'orders.rejected_orders' } }), []);
  });

  it('refuses an event-time field that is not a time', () => {
    assert.deepEqual(
      problemsOf(
        minimalSpec({ schema: { fields: [{ name: 'day', type: 'string' }], eventTimeField: 'day' } }),
      ),
      ['schema.eventTimeField: must be a timestamp, long or date field (it is string)'],
    );
  });

  it('refuses a retention below one minute but accepts -1 (forever)', () => {
    assert.equal(parseSpec(minimalSpec({ outputTopic: { retentionMs: -1 } })).outputTopic.retentionMs, -1);
    assert.deepEqual(problemsOf(minimalSpec({ outputTopic: { retentionMs: 10 } })), [
      'outputTopic.retentionMs: must be -1 (forever) or ≥ 60000 (one minute)',
    ]);
  });

  it('reports YAML syntax errors with their line', () => {
    assert.throws(
      () => parseSpecText('name: x\n  domain: : :\n', 'yaml'),
      (error: unknown) => error instanceof InvalidSpecError && /line \d+/.test(error.problems[0] ?? ''),
    );
  });

  it('reads a .json file as JSON and anything else as YAML', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'meshloop-spec-'));
    const file = path.join(dir, 'spec.json');
    try {
      await writeFile(file, JSON.stringify(minimalSpec({ name: 'from_json' })));
      assert.equal((await loadSpecFile(file)).name, 'from_json');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('derives the product id and workflow id', () => {
    const spec = parseSpec(minimalSpec());
    assert.equal(workflowIdOf(productIdOf(spec)), 'data-product:orders.daily_revenue');
    assert.equal(productIdOfWorkflowId('data-product:orders.daily_revenue'), 'orders.daily_revenue');
    assert.equal(productIdOfWorkflowId('something-else'), undefined);
  });
});

describe('durations', () => {
  it('parses 30s, 15m, 72h, 7d and 500ms', () => {
    assert.deepEqual(
      ['30s', '15m', '72h', '7d', '500ms', '1.5h'].map(parseDuration),
      [30_000, 900_000, 259_200_000, 604_800_000, 500, 5_400_000],
    );
  });

  it('refuses what is not a positive duration', () => {
    assert.deepEqual(['', '72', 'h', '0s', '-1h', '3 weeks'].map(parseDuration), Array(6).fill(undefined));
  });

  it('formats milliseconds back to the shortest exact text', () => {
    assert.deepEqual([259_200_000, 90_000, 1_500].map(formatDuration), ['3d', '90s', '1500ms']);
  });
});

describe('one size cap on specs (MAX_SPEC_BYTES), on every path in', () => {
  /** A valid spec whose JSON is about `bytes` long: fields with long descriptions. */
  const specOfSize = (bytes: number, char = 'x') => {
    const fields: Array<{ name: string; type: string; description: string }> = [
      { name: 'day', type: 'date', description: '' },
    ];
    let size = JSON.stringify(rawSpec({ schema: { fields, key: ['day'] } })).length;
    const per = 1900;
    while (size < bytes) {
      const length = Math.min(per, Math.max(1, Math.floor((bytes - size - 60) / Buffer.byteLength(char))));
      fields.push({ name: `f${fields.length}`, type: 'string', description: char.repeat(length) });
      size = Buffer.byteLength(JSON.stringify(rawSpec({ schema: { fields, key: ['day'] } })));
    }
    return rawSpec({ schema: { fields, key: ['day'] } });
  };

  it('accepts a real spec just under the cap, and refuses one just over, with the size and the cap', () => {
    const under = specOfSize(MAX_SPEC_BYTES - 4096);
    assert.ok(specJsonBytes(under) <= MAX_SPEC_BYTES);
    assert.equal(parseSpec(under).schema.fields.length > 100, true);
    const over = specOfSize(MAX_SPEC_BYTES + 10);
    assert.throws(
      () => parseSpec(over),
      (error: unknown) =>
        error instanceof InvalidSpecError && /at most 262144 bytes \(256 KiB\)/.test(error.message),
    );
  });

  it('counts UTF-8 bytes, not characters: 100,000 three-byte characters are over', () => {
    const euros = rawSpec({ description: '€'.repeat(100_000) });
    assert.ok(JSON.stringify(euros).length < MAX_SPEC_BYTES);
    assert.throws(() => parseSpec(euros), /bytes of JSON; a spec may be at most/);
  });

  it('refuses the audit examples and junk alike before validating them (1.77 MB, 1.09 MB, huge keys)', () => {
    for (const spec of [
      rawSpec({ description: 'x'.repeat(1_770_000) }),
      rawSpec({ sql: `SELECT 1 ${'-- pad\n'.repeat(180_000)}` }),
      { ...rawSpec(), [`k${'y'.repeat(300_000)}`]: 1 },
      rawSpec({ tags: Array.from({ length: 30_000 }, (_, i) => `tag-${i}-padding`) }),
    ]) {
      assert.throws(() => parseSpec(spec), /a spec may be at most 262144 bytes/);
    }
    const cyclic: Record<string, unknown> = rawSpec();
    cyclic.self = cyclic;
    assert.throws(() => parseSpec(cyclic), /cannot be written as JSON/);
  });

  it('the same cap bounds an amendment and a carried spec', () => {
    const over = rawSpec({ description: 'x'.repeat(MAX_SPEC_BYTES) });
    assert.equal(MAX_SPEC_JSON_LENGTH, MAX_SPEC_BYTES);
    assert.equal(amendRequestSchema.safeParse({ by: 'alice', spec: over }).success, false);
    assert.equal(amendRequestSchema.safeParse({ by: 'alice', spec: rawSpec() }).success, true);
    const at = new Date().toISOString();
    const checked = checkStartInput(
      {
        spec: rawSpec(),
        carried: {
          stage: 'awaitingApproval',
          spec: over,
          revision: 1,
          approvals: [],
          decisions: [],
          ignored: [],
          policyViolations: [],
          resources: [],
          remindersSent: 0,
          continuedAsNew: 1,
          proposedAt: at,
          updatedAt: at,
        },
      },
      { workflowId: 'data-product:orders.daily_revenue', continuedFromExecutionRunId: 'r1' },
    );
    assert.equal(checked.ok, false);
    assert.match(!checked.ok ? checked.refusal.message : '', /at most 262144 bytes/);
  });
});
