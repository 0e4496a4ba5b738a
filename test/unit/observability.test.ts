import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { MetricMeter, MetricTags } from '@temporalio/common';
import type { LlmClient } from '../../src/adapters/llm/client';
import { UpstreamUnavailableError } from '../../src/domain/errors';
import { metricSnapshotOf, productMetricUpdates } from '../../src/domain/product-metrics';
import type { CarriedState } from '../../src/domain/product-state';
import { proposedState, statusOf } from '../../src/domain/product-state';
import { productIdOf } from '../../src/domain/spec';
import { currentDetailsOf, staticDetailsOf, staticSummaryOf } from '../../src/domain/workflow-details';
import { instrumentedLlm } from '../../src/metrics/llm';
import { BoundedLabel, MeshloopMetrics, OTHER_LABEL } from '../../src/metrics/meshloop-metrics';
import { validSpec } from '../helpers/specs';

type Recorded = { name: string; kind: string; unit: string | undefined; value: number; tags: MetricTags };

/** A MetricMeter that keeps what it was given, as the SDK's would export it. */
function recordingMeter(): { meter: MetricMeter; recorded: Recorded[] } {
  const recorded: Recorded[] = [];
  const instrument = (kind: string, name: string, unit?: string) => {
    const record = (value: number, tags: MetricTags = {}) => recorded.push({ name, kind, unit, value, tags });
    return { name, unit, add: record, record, set: record, withTags: () => instrument(kind, name, unit) };
  };
  const meter = {
    createCounter: (name: string, unit?: string) => instrument('counter', name, unit),
    createHistogram: (name: string, _type?: string, unit?: string) => instrument('histogram', name, unit),
    createGauge: (name: string, _type?: string, unit?: string) => instrument('gauge', name, unit),
    withTags: () => meter,
  } as unknown as MetricMeter;
  return { meter, recorded };
}

const t0 = Date.parse('2026-01-01T00:00:00Z');

function stateOf(overrides: Partial<CarriedState> = {}): CarriedState {
  const spec = validSpec({ proposal: { proposedBy: { kind: 'agent', name: 'discovery-planner' } } });
  return { ...proposedState(spec, new Date(t0).toISOString()), ...overrides };
}

describe('product metric updates (what a workflow reports to the worker)', () => {
  it('a new proposal counts once, by its proposing agent', () => {
    const state = stateOf();
    const updates = productMetricUpdates(
      'orders.p',
      { kind: 'proposed' },
      metricSnapshotOf(state),
      state,
      t0,
    );
    assert.deepEqual(updates, [{ kind: 'proposed', productId: 'orders.p', agent: 'discovery-planner' }]);
  });

  it('an approval is a decision with the time since the proposal; a person wrote specs without a proposal', () => {
    const before = metricSnapshotOf(stateOf({ stage: 'awaitingApproval' }));
    const after = stateOf({ stage: 'provisioning' });
    const updates = productMetricUpdates('orders.p', { kind: 'reviewed' }, before, after, t0 + 90_000);
    assert.deepEqual(updates, [
      {
        kind: 'decided',
        productId: 'orders.p',
        agent: 'discovery-planner',
        outcome: 'approved',
        seconds: 90,
      },
    ]);
    const byPerson = { ...after, spec: validSpec() };
    const [decided] = productMetricUpdates('orders.p', { kind: 'reviewed' }, before, byPerson, t0 + 1000);
    assert.equal(decided?.kind === 'decided' && decided.agent, 'person');
    // A stage change that is no decision on a proposal counts nothing.
    const active = metricSnapshotOf(stateOf({ stage: 'provisioning' }));
    assert.deepEqual(
      productMetricUpdates('orders.p', { kind: 'provisioned' }, active, stateOf({ stage: 'active' }), t0),
      [],
    );
  });

  it('rejected records count by their growth, a restarted job from zero; restarts and the table are reported', () => {
    const job = { name: 'j', id: '1', revision: 1, sql: '', state: 'RUNNING' as const, checkedAt: '' };
    const table = {
      table: 'lake.orders.p',
      provider: 'flink' as const,
      rowCount: 120,
      lastCommitAt: '2026-01-01T00:01:00.000Z',
      snapshots: 2,
    };
    const before = metricSnapshotOf(stateOf({ stage: 'active', job: { ...job, rejectedRecords: 5 } }));
    const after = stateOf({
      stage: 'active',
      job: { ...job, rejectedRecords: 8 },
      materialization: { badRecords: 2, status: table } as unknown as CarriedState['materialization'],
    });
    assert.deepEqual(
      productMetricUpdates('orders.p', { kind: 'recoveryAttempted', recovered: true }, before, after, t0),
      [
        { kind: 'jobRestarted', productId: 'orders.p', recovered: true },
        { kind: 'recordsRejected', productId: 'orders.p', source: 'job', count: 3 },
        { kind: 'recordsRejected', productId: 'orders.p', source: 'table', count: 2 },
        {
          kind: 'table',
          productId: 'orders.p',
          rows: 120,
          lastCommitSeconds: Date.parse(table.lastCommitAt) / 1000,
        },
      ],
    );
    const restarted = stateOf({ stage: 'active', job: { ...job, name: 'j2', rejectedRecords: 4 } });
    const updates = productMetricUpdates('orders.p', { kind: 'jobLooked' }, before, restarted, t0);
    assert.deepEqual(updates, [{ kind: 'recordsRejected', productId: 'orders.p', source: 'job', count: 4 }]);
  });
});

describe('MeshloopMetrics', () => {
  it('bounds label values: past the cap they share _other', () => {
    const label = new BoundedLabel(2);
    assert.deepEqual(
      ['a', 'b', 'c', 'a', 'd'].map((v) => label.of(v)),
      ['a', 'b', OTHER_LABEL, 'a', OTHER_LABEL],
    );
  });

  it('counts what workflows report under Prometheus names, product labels capped', () => {
    const { meter, recorded } = recordingMeter();
    const metrics = new MeshloopMetrics(meter, { maxProducts: 1 });
    assert.deepEqual(
      metrics.productUpdates([
        { kind: 'decided', productId: 'orders.a', agent: 'x', outcome: 'approved', seconds: 12 },
        { kind: 'table', productId: 'orders.a', rows: 10, lastCommitSeconds: 1000 },
        { kind: 'table', productId: 'orders.b', rows: 20 },
      ]),
      { ok: true },
    );
    const seen = recorded.map(
      (r) => `${r.name}${r.unit ? `[${r.unit}]` : ''} ${JSON.stringify(r.tags)} ${r.value}`,
    );
    assert.deepEqual(seen, [
      'meshloop_proposal_decisions {"agent":"x","outcome":"approved"} 1',
      'meshloop_proposal_decision_duration[seconds] {"outcome":"approved"} 12',
      'meshloop_table_rows {"product":"orders.a"} 10',
      'meshloop_table_last_commit_timestamp_seconds {"product":"orders.a"} 1000',
      `meshloop_table_rows {"product":"${OTHER_LABEL}"} 20`,
    ]);
    const refused = metrics.productUpdates([{ kind: 'table', productId: 'orders.a', rows: -1 }]);
    assert.equal(refused.ok, false, 'a malformed update counts nothing');
    assert.equal(recorded.length, 5);
  });

  it('counts LLM calls, tokens and failures by purpose', async () => {
    const { meter, recorded } = recordingMeter();
    const metrics = new MeshloopMetrics(meter);
    let fail = false;
    const llm: LlmClient = {
      model: 'm',
      parse: () =>
        fail
          ? Promise.reject(new UpstreamUnavailableError('LLM', 'HTTP 503'))
          : Promise.resolve({
              kind: 'parsed',
              value: {} as never,
              raw: '{}',
              usage: { promptTokens: 30, completionTokens: 7 },
            }),
    };
    const counted = instrumentedLlm(llm, metrics);
    const request = { messages: [], schema: undefined as never, schemaName: 'proposals' };
    await counted.parse(request);
    fail = true;
    await assert.rejects(counted.parse(request), UpstreamUnavailableError);
    const sum = (name: string, tags: MetricTags) =>
      recorded
        .filter((r) => r.name === name && Object.entries(tags).every(([k, v]) => r.tags[k] === v))
        .reduce((n, r) => n + r.value, 0);
    assert.equal(sum('meshloop_llm_calls', { purpose: 'proposals', outcome: 'parsed' }), 1);
    assert.equal(sum('meshloop_llm_calls', { purpose: 'proposals', outcome: 'failed' }), 1);
    assert.equal(sum('meshloop_llm_tokens', { type: 'prompt' }), 30);
    assert.equal(sum('meshloop_llm_tokens', { type: 'completion' }), 7);
    assert.equal(sum('meshloop_llm_failures', { reason: 'unavailable' }), 1);
  });
});

describe('what the Temporal UI shows of a product', () => {
  it('a one-line summary and details of what the product is', () => {
    const spec = validSpec({ proposal: { proposedBy: { kind: 'agent', name: 'discovery-planner' } } });
    assert.equal(staticSummaryOf(spec), `${productIdOf(spec)} · ${spec.kind} · owner ${spec.owner}`);
    assert.doesNotMatch(staticSummaryOf(spec), /\n/);
    assert.match(staticDetailsOf(spec), /proposed by agent discovery-planner/);
  });

  it('current details: stage, last decision, table, next step for the approver, last error', () => {
    const state = stateOf({
      stage: 'awaitingApproval',
      decisions: [
        {
          by: 'meshloop',
          action: 'policyCheck',
          at: '2026-01-01T00:00:05Z',
          revision: 1,
          stage: 'awaitingApproval',
        },
      ],
    });
    const status = statusOf('orders.p', state, undefined);
    const details = currentDetailsOf({ ...status, approvers: ['alice'], requiredApprovals: 1 }, '**Critic**');
    assert.match(details, /^\*\*orders\.p\*\* · /);
    assert.match(details, /\*\*Stage:\*\* awaiting approval \(revision 1\)/);
    assert.match(details, /\*\*Last decision:\*\* policyCheck by meshloop/);
    assert.match(
      details,
      /\*\*Next:\*\* Approve or reject.*1 more approval\(s\) needed \(approvers: alice\).*meshloop approve orders\.p/,
    );
    assert.match(details, /\*\*Critic\*\*$/);
    const failed = currentDetailsOf({
      ...status,
      stage: 'failed',
      lastError: { type: 'JobFailed', message: 'boom', at: '' },
    });
    assert.match(failed, /\*\*Next:\*\* Fix the cause below, then `meshloop retry orders\.p/);
    assert.match(failed, /\*\*Last error:\*\* JobFailed: boom/);
  });
});

describe('docs/metrics.md and the Grafana dashboard', () => {
  const root = path.join(__dirname, '..', '..');
  const doc = fs.readFileSync(path.join(root, 'docs', 'metrics.md'), 'utf8');
  /** A row of the metrics table names it (prettier pads the cells). */
  const listed = (name: string) => new RegExp(`\\|\\s*\`${name}\`\\s*\\|`).test(doc);

  it('list every metric Meshloop makes, under its exported name', () => {
    const made: string[] = [];
    const meter = {
      createCounter: (name: string) => (made.push(`${name}_total`), {}),
      createHistogram: (name: string, _type?: string, unit?: string) => (
        made.push(unit ? `${name}_${unit}` : name),
        {}
      ),
      createGauge: (name: string) => (made.push(name), {}),
    } as unknown as MetricMeter;
    new MeshloopMetrics(meter);
    assert.ok(made.length >= 14);
    for (const name of made) assert.ok(listed(name), `docs/metrics.md lists ${name}`);
  });

  it('the dashboard queries only metrics that exist', () => {
    const dashboard = fs.readFileSync(path.join(root, 'docs', 'grafana', 'meshloop.json'), 'utf8');
    const used = new Set(
      [...dashboard.matchAll(/meshloop_[a-z_]+/g)].map((m) => m[0].replace(/_bucket$/, '')),
    );
    assert.ok(used.size >= 10);
    for (const name of used) assert.ok(listed(name), `${name} is a metric docs/metrics.md lists`);
    assert.doesNotThrow(() => JSON.parse(dashboard));
  });
});
