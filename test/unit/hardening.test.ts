import assert from 'node:assert/strict';
import { MAX_INLINE_STARTS_BYTES, pageOfStarts } from '../../src/domain/proposals';
import { planProposals } from '../../src/agents/planner';
import { appendBounded } from '../../src/domain/audit';
import { governanceOf, operatorRefusal } from '../../src/domain/governance';
import { parseMeshConfig, domainConfigOf } from '../../src/domain/mesh-config';
import {
  approverMessageSchema,
  claimedSender,
  parseMessage,
  retireRequestSchema,
  reviewRequestSchema,
} from '../../src/domain/messages';
import { ownValue } from '../../src/domain/records';
import { parseSpec } from '../../src/domain/spec';
import { TopicProfiler } from '../../src/profile';
import { serviceEnvironment } from '../../src/stack/process';
import { checkStartInput } from '../../workflows/product/start-input';
import { rawSpec, validSpec } from '../helpers/specs';

describe('message schemas', () => {
  it('accept a well-formed message and refuse every malformed one with the reason, never throwing', () => {
    assert.deepEqual(parseMessage(approverMessageSchema, { by: ' alice ', comment: 'ok' }), {
      ok: true,
      value: { by: 'alice', comment: 'ok' },
    });
    const cases: Array<[unknown, RegExp]> = [
      [{ by: { toString: 'alice' } }, /by: must be a string/],
      [{ by: ['alice'] }, /by: must be a string/],
      [{ by: 42 }, /by: must be a string/],
      [{}, /by: is required/],
      [{ by: '' }, /by: must not be empty/],
      [{ by: 'a'.repeat(101) }, /by: must be at most 100 characters/],
      [{ by: 'alice', comment: { toString: 'x' } }, /comment: must be a string/],
      [{ by: 'alice', extra: 1 }, /extra: unknown field/],
      [null, /\(message\): must be a object/],
      [[1, 2], /\(message\): must be a object/],
      ['alice', /\(message\): must be a object/],
    ];
    for (const [value, reason] of cases) {
      const parsed = parseMessage(approverMessageSchema, value, 'approve signal');
      assert.equal(parsed.ok, false, JSON.stringify(value));
      if (!parsed.ok) assert.match(parsed.reason, reason);
    }
    const poisoned = new Proxy(
      {},
      {
        get: () => {
          throw new Error('boom');
        },
        ownKeys: () => {
          throw new Error('boom');
        },
      },
    );
    assert.equal(parseMessage(approverMessageSchema, poisoned).ok, false);
    assert.equal(claimedSender(poisoned), '(malformed)');
  });

  it('force must be a boolean: "false" is not true', () => {
    const parsed = parseMessage(retireRequestSchema, { by: 'ops', force: 'false' });
    assert.equal(parsed.ok, false);
    assert.deepEqual(parseMessage(retireRequestSchema, { by: 'ops', force: false }), {
      ok: true,
      value: { by: 'ops', force: false },
    });
  });

  it('bounds an amended spec by its JSON size', () => {
    const huge = { ...rawSpec(), description: 'x'.repeat(300 * 1024) };
    const parsed = parseMessage(reviewRequestSchema, {
      action: 'requestChanges',
      by: 'alice',
      amendedSpec: huge,
    });
    assert.equal(parsed.ok, false);
    if (!parsed.ok) assert.match(parsed.reason, /amendedSpec: must be at most 262144 bytes of JSON/);
    assert.ok(!parsed.ok && parsed.reason.length <= 500);
  });
});

describe('start input', () => {
  const spec = rawSpec({ name: 'daily_revenue' });
  const workflowId = 'data-product:orders.daily_revenue';
  const carried = {
    stage: 'provisioning',
    spec,
    revision: 1,
    approvals: ['carol'],
    decisions: [],
    ignored: [],
    policyViolations: [],
    resources: [],
    remindersSent: 0,
    continuedAsNew: 0,
    proposedAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
  };

  it('accepts a spec under its own workflow id, and ignores approvers a starter passes', () => {
    const checked = checkStartInput({ spec, approvers: ['mallory'] }, { workflowId });
    assert.ok(checked.ok);
    assert.equal(checked.value.carried, undefined);
  });

  it('refuses carried state unless the run continued as new, and re-validates it then', () => {
    const forged = checkStartInput({ spec, carried }, { workflowId });
    assert.ok(!forged.ok);
    assert.match(
      forged.refusal.message,
      /carried state is accepted only from the workflow continuing as new/,
    );
    assert.ok(checkStartInput({ spec, carried }, { workflowId, continuedFromExecutionRunId: 'r1' }).ok);
    const bad = checkStartInput(
      { spec, carried: { ...carried, stage: 'wherever', approvals: [{ toString: 'x' }] } },
      { workflowId, continuedFromExecutionRunId: 'r1' },
    );
    assert.ok(!bad.ok);
    assert.match(bad.refusal.message, /invalid carried state: stage: .*approvals\[0\]: must be a string/);
  });

  it('carries how each decision was authenticated (via, key id) across continue-as-new, and nothing else', () => {
    const decision = {
      by: 'carol',
      action: 'approve',
      at: '2026-01-01T00:00:00.000Z',
      revision: 1,
      stage: 'provisioning',
    };
    const resumed = { workflowId, continuedFromExecutionRunId: 'r1' };
    const signed = { ...decision, via: 'slack', keyId: 'slack-app' };
    assert.ok(checkStartInput({ spec, carried: { ...carried, decisions: [signed] } }, resumed).ok);
    const odd = checkStartInput(
      { spec, carried: { ...carried, decisions: [{ ...signed, via: 'email' }] } },
      resumed,
    );
    assert.ok(!odd.ok);
    assert.match(odd.refusal.message, /decisions\[0\]\.via/);
  });

  it("refuses a workflow id that is not data-product:<the spec's product id>", () => {
    const checked = checkStartInput({ spec }, { workflowId: 'data-product:orders.other' });
    assert.ok(!checked.ok);
    assert.match(checked.refusal.message, /workflow id must be data-product:orders\.daily_revenue/);
  });

  it('refuses unknown keys and a malformed spec', () => {
    assert.ok(!checkStartInput({ spec, evil: 1 }, { workflowId }).ok);
    const invalid = checkStartInput({ spec: { ...spec, owner: { toString: 'x' } } }, { workflowId });
    assert.ok(!invalid.ok);
    assert.equal(invalid.refusal.type, 'InvalidSpec');
  });
});

describe('operators and governance', () => {
  const mesh = parseMeshConfig({
    operators: ['ops'],
    domains: { orders: { approvers: ['alice'], operators: ['olga'] }, web: { approvers: ['heidi'] } },
  });

  it('reads operators mesh-wide and per domain', () => {
    assert.deepEqual(domainConfigOf(mesh, 'orders').operators, ['olga', 'ops']);
    assert.deepEqual(governanceOf(mesh, 'web').operators, ['ops']);
  });

  it('refuses anyone but an operator, then a wrong stage', () => {
    const governance = governanceOf(mesh, 'orders');
    const base = { governance, stage: 'active' as const, allowedIn: () => true, what: 'redeploy' };
    assert.equal(operatorRefusal({ ...base, by: 'Olga' }), undefined);
    assert.equal(operatorRefusal({ ...base, by: 'ops' }), undefined);
    assert.equal(operatorRefusal({ ...base, by: 'alice' })?.type, 'NotAnOperator');
    assert.equal(operatorRefusal({ ...base, by: ' ' })?.type, 'InvalidRequest');
    assert.equal(operatorRefusal({ ...base, by: 'ops', allowedIn: () => false })?.type, 'WrongStage');
  });

  it('treats prototype names as unknown domains', () => {
    for (const name of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      assert.equal(ownValue(mesh.domains, name), undefined);
      const governance = governanceOf(mesh, name);
      assert.equal(governance.known, false);
      assert.deepEqual(governance.approvers, []);
      assert.throws(() => domainConfigOf(mesh, name), /is not in mesh\.yaml/);
    }
  });
});

describe('bounds', () => {
  it('folds the oldest audit entries into a summary', () => {
    let list: Array<{ action: string; at: string }> = [];
    let summary;
    for (let i = 0; i < 8; i++) {
      ({ list, summary } = appendBounded(
        list,
        summary,
        { action: i % 2 ? 'approve' : 'reject', at: `t${i}` },
        5,
      ));
    }
    assert.deepEqual(
      list.map((e) => e.at),
      ['t3', 't4', 't5', 't6', 't7'],
    );
    assert.deepEqual(summary, { count: 3, byAction: { reject: 2, approve: 1 }, from: 't0', to: 't2' });
  });

  it('caps spec strings and lists', () => {
    assert.throws(
      () => parseSpec(rawSpec({ owner: 'o'.repeat(201) })),
      /owner: must be at most 200 characters/,
    );
    assert.throws(
      () => parseSpec(rawSpec({ description: 'd'.repeat(4001) })),
      /description: must be at most 4000 characters/,
    );
    const proposal = { proposedBy: { kind: 'agent', name: 'x' }, reasoning: 'r'.repeat(4001) };
    assert.throws(() => parseSpec(rawSpec({ proposal })), /proposal\.reasoning: must be at most 4000/);
    assert.doesNotThrow(() => validSpec());
  });

  it('does not turn a huge JSON key into a field name', () => {
    const profiler = new TopicProfiler('web.clicks');
    const record = { ['k'.repeat(200_000)]: 1, id: 'a', __proto__x: 2 };
    for (let i = 0; i < 3; i++) {
      profiler.add({
        partition: 0,
        offset: String(i),
        key: null,
        value: Buffer.from(JSON.stringify({ ...record, id: `a${i}` })),
        timestamp: 0,
      });
    }
    const profile = profiler.finish();
    assert.deepEqual(profile.fields.map((f) => f.name).sort(), ['__proto__x', 'id']);
    assert.equal(profile.droppedFields, 1);
    assert.ok(JSON.stringify(profile).length < 20_000);
  });

  it('the planner skips a topic named after a prototype property instead of crashing', () => {
    const mesh = parseMeshConfig({ domains: { web: { approvers: ['heidi'] } } });
    const profiler = new TopicProfiler('constructor.x');
    profiler.add({ partition: 0, offset: '0', key: null, value: Buffer.from('{"id":"a"}'), timestamp: 0 });
    const result = planProposals([profiler.finish()], mesh);
    assert.deepEqual(result.proposals, []);
    assert.deepEqual(result.skipped, ["constructor.x: domain 'constructor' is not in mesh.yaml"]);
  });
});

describe('spawned services', () => {
  it('do not inherit secrets', () => {
    const env = serviceEnvironment({
      PATH: '/usr/bin',
      JAVA_HOME: '/jdk',
      OPENAI_API_KEY: 'sk-1',
      MESHLOOP_PAYLOAD_KEYS: 'k1:abc',
      SLACK_BOT_TOKEN: 'x',
      AWS_SECRET_ACCESS_KEY: 'y',
      MESHLOOP_KAFKA_PORT: '9092',
    });
    assert.deepEqual(Object.keys(env).sort(), ['JAVA_HOME', 'MESHLOOP_KAFKA_PORT', 'PATH']);
  });
});

describe('proposal starts by reference', () => {
  it('pages starts so each activity result stays under the bound, each start in exactly one page', () => {
    const spec = validSpec({ description: 'd'.repeat(3000) });
    const starts = Array.from({ length: 300 }, (_, i) => ({
      proposalId: `p${i}`,
      productId: `orders.p${i}`,
      workflowId: `data-product:orders.p${i}`,
      spec,
      domain: domainConfigOf(parseMeshConfig({ domains: { orders: { approvers: ['alice'] } } }), 'orders'),
    }));
    assert.ok(JSON.stringify(starts).length > MAX_INLINE_STARTS_BYTES, 'big enough to go by reference');
    const seen: string[] = [];
    for (let offset = 0; offset < starts.length;) {
      const page = pageOfStarts(starts, offset, MAX_INLINE_STARTS_BYTES);
      assert.ok(page.length > 0);
      assert.ok(JSON.stringify(page).length <= MAX_INLINE_STARTS_BYTES + 1000);
      seen.push(...page.map((s) => s.proposalId));
      offset += page.length;
    }
    assert.deepEqual(
      seen,
      starts.map((s) => s.proposalId),
    );
  });
});
