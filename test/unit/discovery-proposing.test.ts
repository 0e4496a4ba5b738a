import assert from 'node:assert/strict';
import type { TopicProfile } from '../../src/profile';
import { withoutRegistryInputs } from '../../src/discovery/proposing';
import { validSpec } from '../helpers/specs';

const profile = (topic: string, format?: TopicProfile['format']) =>
  ({ topic, ...(format ? { format } : {}) }) as TopicProfile;

describe('discovery: proposals over Schema Registry topics', () => {
  it('drops a proposal that reads a Protobuf topic, saying why, and keeps the JSON and Avro ones', () => {
    const json = {
      proposalId: 'a',
      origin: 'planner' as const,
      spec: validSpec({ name: 'orders_curated', inputs: [{ topic: 'orders.orders' }] }),
    };
    const avro = {
      proposalId: 'b',
      origin: 'planner' as const,
      spec: validSpec({ name: 'points_curated', inputs: [{ topic: 'loyalty.points' }] }),
    };
    const joined = {
      proposalId: 'c',
      origin: 'llm' as const,
      spec: validSpec({
        name: 'orders_with_tickets',
        inputs: [{ topic: 'orders.orders' }, { topic: 'support.tickets' }],
      }),
    };
    const drafted = withoutRegistryInputs(
      {
        agent: 'planner',
        proposals: [json, avro, joined],
        dropped: [{ name: 'earlier', origin: 'planner', reasons: ['x'] }],
        skipped: [],
      },
      [
        profile('orders.orders'),
        profile('loyalty.points', { kind: 'avro', schemaIds: [1], subjects: ['loyalty.points-value'] }),
        profile('support.tickets', { kind: 'protobuf', schemaIds: [2], subjects: ['support.tickets-value'] }),
      ],
    );
    assert.deepEqual(
      drafted.proposals.map((p) => p.spec.name),
      ['orders_curated', 'points_curated'],
    );
    assert.deepEqual(
      drafted.dropped.map((d) => [d.name, d.origin]),
      [
        ['earlier', 'planner'],
        ['orders_with_tickets', 'llm'],
      ],
    );
    assert.match(
      drafted.dropped[1]!.reasons[0]!,
      /support\.tickets \(protobuf\).*JSON and Avro records only/,
    );
    assert.doesNotMatch(drafted.dropped[1]!.reasons[0]!, /orders\.orders/);
  });
});
