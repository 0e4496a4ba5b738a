import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Kafka } from 'kafkajs';
import { stringify as toYaml } from 'yaml';
import { createKafkaClient } from '../../src/adapters/kafka/client';
import { createIdempotentProducer } from '../../src/adapters/kafka/producer';
import { planProposals } from '../../src/agents/planner';
import type { MeshloopConfig } from '../../src/config';
import { profileTopics } from '../../src/discovery/profiling';
import { createLogger } from '../../src/log';
import type { TopicProfile } from '../../src/profile';
import { feedKafka } from '../../src/seed/feed';
import { seedTopics } from '../../src/seed/generator';
import { registryTopics } from '../../src/seed/registry-generator';
import { seedRegistryTopics } from '../../src/seed/registry-seed';
import { checkSeed, seedKafka, topicRecordCounts } from '../../src/seed/seed';
import { loadMeshConfig } from '../../src/specs/load';
import { waitUntil } from '../../src/stack/probe';
import { testEnvironment, testPlatform } from '../helpers/platform';

/**
 * The living demo on the real platform: the live feed keeps records coming with event times now;
 * the demo seed lands whole and exactly once, so discovery proposes the same products from it every
 * time (both joins included); an interrupted seed is told apart from a whole one.
 */
describe('the demo data on the real platform (seed, live feed, deterministic discovery)', function () {
  this.timeout(300_000);
  const run = `df${randomUUID().replace(/-/g, '').slice(0, 8)}`;
  let config: MeshloopConfig;
  let kafka: Kafka;
  let workDir: string;

  before(async function () {
    this.timeout(15 * 60_000);
    config = await testPlatform();
    kafka = createKafkaClient({ connection: config.kafka, clientId: 'demo-feed-test' });
    workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'meshloop-demo-feed-'));
  });

  after(async () => {
    if (workDir) await fs.rm(workDir, { recursive: true, force: true });
  });

  it('the live feed keeps records arriving, event times near now, until it is stopped', async () => {
    const prefix = `${run}f_`;
    const abort = new AbortController();
    const feeding = feedKafka(kafka, {
      rate: 40,
      topicPrefix: prefix,
      registry: config.schemaRegistry,
      signal: abort.signal,
    });
    const topics = [...Object.values(seedTopics), ...Object.values(registryTopics)].map(
      (t) => `${prefix}${t}`,
    );
    const total = async () =>
      Object.values(await topicRecordCounts(kafka, topics)).reduce((sum, n) => sum + n, 0);
    const grows = async (what: string, beyond: number) => {
      let now = 0;
      const outcome = await waitUntil(async () => (now = await total()) > beyond, {
        timeoutMs: 60_000,
        intervalMs: 500,
      });
      assert.equal(outcome, 'ready', `${what}: the topics hold ${now} records, not more than ${beyond}`);
      return now;
    };
    const first = await grows('records arrive', 40);
    const second = await grows('and keep arriving', first + 40);

    // Read the orders back: their event times are now, their ids new and unique.
    const consumer = kafka.consumer({ groupId: `${prefix}reader` });
    const orders: Array<{ order_id: string; order_ts: string }> = [];
    const readAt = Date.now();
    await consumer.connect();
    try {
      await consumer.subscribe({ topics: [`${prefix}${seedTopics.orders}`], fromBeginning: true });
      await consumer.run({
        eachMessage: ({ message }) => {
          orders.push(JSON.parse(message.value!.toString()) as (typeof orders)[number]);
          return Promise.resolve();
        },
      });
      const outcome = await waitUntil(() => Promise.resolve(orders.length >= 5), {
        timeoutMs: 60_000,
        intervalMs: 200,
      });
      assert.equal(outcome, 'ready', `orders read: ${orders.length}`);
    } finally {
      await consumer.disconnect();
    }
    for (const order of orders) {
      const age = readAt - Date.parse(order.order_ts);
      assert.ok(Math.abs(age) < 5 * 60_000, `order ${order.order_id} at ${order.order_ts}: not near now`);
    }
    assert.equal(new Set(orders.map((o) => o.order_id)).size, orders.length, 'order ids are unique');

    abort.abort();
    const fed = await feeding;
    assert.ok(fed.sent >= second, `the feed counts what it sent (${fed.sent} ≥ ${second})`);
    assert.ok((fed.byTopic[`${prefix}${registryTopics.loyalty}`] ?? 0) > 0, 'the Avro domain is fed too');
    const stopped = await total();
    assert.equal(stopped, fed.sent, 'everything sent landed once, and nothing after the stop');
  });

  it('`meshloop seed --follow` feeds until Ctrl-C, then stops cleanly and counts what it sent', async () => {
    const prefix = `${run}c_`;
    const child = spawn(
      path.join(__dirname, '..', '..', 'bin', 'meshloop'),
      ['seed', '--follow', '--rate', '30', '--no-registry', '--topic-prefix', prefix, '--json'],
      { env: testEnvironment(), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
    const topics = Object.values(seedTopics).map((t) => `${prefix}${t}`);
    const total = async () =>
      Object.values(await topicRecordCounts(kafka, topics)).reduce((sum, n) => sum + n, 0);
    try {
      const fed = await waitUntil(async () => (await total()) >= 30, { timeoutMs: 120_000, intervalMs: 500 });
      assert.equal(fed, 'ready', `records arrive: ${stderr.slice(-500)}`);
    } finally {
      child.kill('SIGINT');
    }
    assert.equal(await exited, 0, stderr.slice(-1000));
    const result = JSON.parse(stdout) as { sent: number; byTopic: Record<string, number> };
    assert.equal(result.sent, await total(), 'what it says it sent is what Kafka holds');
    assert.ok((result.byTopic[`${prefix}${seedTopics.clicks}`] ?? 0) > 0, stdout);
  });

  it('the seed lands whole and exactly once, and two discoveries on it propose the same products', async () => {
    const prefix = `${run}s_`;
    const seeded = await seedKafka(kafka, { count: 10_000, topicPrefix: prefix });
    await seedRegistryTopics(kafka, config.schemaRegistry, { count: 2000, topicPrefix: prefix });
    const check = await checkSeed(kafka, { count: 10_000, topicPrefix: prefix });
    assert.deepEqual(check, { complete: true, short: [], over: [] }, 'Kafka holds exactly what was sent');
    assert.equal(seeded.sent, 10_000);

    const meshFile = path.join(workDir, 'mesh.yaml');
    const domains = [
      'orders',
      'payments',
      'shipments',
      'customers',
      'web',
      'inventory',
      'loyalty',
      'support',
    ];
    await fs.writeFile(
      meshFile,
      toYaml({
        domains: Object.fromEntries(
          domains.map((d) => [`${prefix}${d}`, { approvers: ['lead'], businessGoals: [`Use ${d} data.`] }]),
        ),
      }),
    );
    const mesh = await loadMeshConfig(meshFile);
    const producer = createIdempotentProducer(kafka);
    await producer.connect();
    const discover = async (key: string) => {
      const ref = await profileTopics(
        {
          kafka,
          producer,
          log: createLogger('demo-feed-test', 'warn'),
          dataDir: workDir,
          meshFile,
          schemaRegistry: config.schemaRegistry,
        },
        {
          runKey: `${prefix}${key}`,
          topicPrefix: prefix,
          maxMessages: 5000,
          maxBytes: 16 << 20,
          sampleDeadlineMs: 120_000,
        },
      );
      const { profiles } = JSON.parse(await fs.readFile(ref.file, 'utf8')) as { profiles: TopicProfile[] };
      return {
        records: Object.fromEntries(ref.topics.map((t) => [t.topic, t.records])),
        proposals: planProposals(profiles, mesh)
          .proposals.map((p) => p.spec.name)
          .sort(),
      };
    };
    try {
      const first = await discover('one');
      const second = await discover('two');
      assert.deepEqual(second, first, 'the same records profiled, the same products proposed');
      assert.equal(
        Object.values(first.records).reduce((sum, n) => sum + n, 0),
        11_545,
        'every seeded record but the oldest clicks (5,000 sampled of 5,455)',
      );
      for (const join of ['orders_with_payments', 'orders_with_shipments'])
        assert.ok(first.proposals.includes(join), `${join} in ${first.proposals.join(', ')}`);
    } finally {
      await producer.disconnect();
    }
  });

  it('a seed stopped part way is told apart from a whole one', async () => {
    const prefix = `${run}p_`;
    await seedKafka(kafka, { count: 3000, topicPrefix: prefix });
    const check = await checkSeed(kafka, { count: 10_000, topicPrefix: prefix });
    assert.equal(check.complete, false);
    const orders = check.short.find((s) => s.topic === `${prefix}${seedTopics.orders}`);
    assert.ok(orders && orders.holds < orders.expected, JSON.stringify(check.short));
  });
});
