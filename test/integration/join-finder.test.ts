import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { Kafka } from 'kafkajs';
import { Partitioners } from 'kafkajs';
import { stringify as toYaml } from 'yaml';
import { createKafkaClient } from '../../src/adapters/kafka/client';
import { createTopicsAndAwaitLeaders } from '../../src/adapters/kafka/topics';
import { loadConfig, temporalConnectOptions } from '../../src/config';
import { workflowIdOf } from '../../src/domain/spec';
import { createLogger } from '../../src/log';
import type { DiscoveryResult, discoveryWorkflow } from '../../workflows/discovery';
import type { RunningWorker } from '../../workers/orchestration';
import { startOrchestrationWorker } from '../../workers/orchestration';
import { lendingRecords, lendingStart } from '../helpers/lending';
import { testEnvironment, testPlatform } from '../helpers/platform';
import { statusAfterChecks } from '../helpers/workflows';
import { KEEP_PAST_RECORDS } from '../helpers/topic-records';

describe('discovery finds join keys from the values in Kafka (real platform)', function () {
  const run = `j${randomUUID().replace(/-/g, '').slice(0, 8)}`;
  const prefix = `${run}_`;
  const taskQueue = `join-finder-test-${run}`;
  let kafka: Kafka;
  let connection: Connection;
  let client: Client;
  let worker: RunningWorker;
  let workDir: string;
  let result: DiscoveryResult | undefined;

  before(async function () {
    this.timeout(15 * 60_000);
    await testPlatform();
    workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'meshloop-join-finder-'));
    const meshFile = path.join(workDir, 'mesh.yaml');
    await fs.writeFile(
      meshFile,
      toYaml({
        domains: Object.fromEntries(
          ['lending', 'risk', 'archive'].map((d) => [
            `${prefix}${d}`,
            { approvers: [`${d}-lead`], businessGoals: [`Lend responsibly (${d}).`] },
          ]),
        ),
      }),
    );
    const config = loadConfig({
      ...testEnvironment(),
      MESHLOOP_MESH_FILE: meshFile,
      MESHLOOP_TASK_QUEUE: taskQueue,
      OPENAI_API_KEY: '',
    });
    kafka = createKafkaClient({ connection: config.kafka, clientId: 'join-finder-test' });
    const records = lendingRecords({ prefix });
    const admin = kafka.admin();
    await admin.connect();
    await createTopicsAndAwaitLeaders(
      admin,
      // The records carry past broker timestamps: retention must not delete them before discovery reads.
      Object.keys(records).map((topic) => ({
        topic,
        numPartitions: 1,
        replicationFactor: 1,
        configEntries: KEEP_PAST_RECORDS,
      })),
    );
    await admin.disconnect();
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    for (const [topic, values] of Object.entries(records)) {
      await producer.send({
        topic,
        acks: -1,
        messages: values.map((value, i) => ({
          value: JSON.stringify(value),
          timestamp: String(lendingStart + i * 1000),
        })),
      });
    }
    await producer.disconnect();
    connection = await Connection.connect(temporalConnectOptions(config.temporal.connection));
    client = new Client({ connection, namespace: config.temporal.namespace });
    worker = await startOrchestrationWorker(config, createLogger('join-finder-test', 'warn'), { taskQueue });
  });

  after(async () => {
    for (const productId of result?.started ?? []) {
      await client.workflow
        .getHandle(workflowIdOf(productId))
        .terminate('test finished')
        .catch(() => undefined);
    }
    await worker?.shutdown();
    await connection?.close();
    if (workDir) await fs.rm(workDir, { recursive: true, force: true });
  });

  it('proposes a join on a key shared under names unlike the topics’, and none on a name without shared values', async function () {
    this.timeout(5 * 60_000);
    result = await client.workflow.execute<typeof discoveryWorkflow>('discoveryWorkflow', {
      taskQueue,
      workflowId: `join-finder-test-${run}`,
      args: [{ topicPrefix: prefix, maxMessages: 5000, sampleDeadlineMs: 60_000, agent: 'planner' }],
    });
    const joins = result.started.filter((id) => id.includes('_with_'));
    // On a miss, say what discovery read and found: the sample, the joins and what was left out.
    const report = JSON.parse(await fs.readFile(result.reportFile, 'utf8')) as Record<string, unknown>;
    assert.deepEqual(
      joins,
      [`${prefix}lending.applications_with_credit_pulls`],
      JSON.stringify(
        { result, joins: report.joins, skipped: report.skipped, dropped: report.dropped },
        null,
        1,
      ),
    );
    const status = await statusAfterChecks(client, joins[0]!);
    assert.equal(status.stage, 'awaitingApproval');
    assert.deepEqual(
      status.spec.inputs.map((input) => ('topic' in input ? [input.topic, input.as] : [])),
      [
        [`${prefix}lending.applications`, 'applications'],
        [`${prefix}risk.credit-pulls`, 'credit_pulls'],
      ],
    );
    // The join reads the key found from the values, however differently the fields are named.
    assert.match(status.spec.sql!, /ON applications\.`loan_id` = credit_pulls\.`application_ref`/);
    assert.deepEqual(status.spec.schema.key, ['loan_id']);
    assert.match(
      status.spec.proposal!.evidence.map((e) => e.summary).join('\n'),
      /100 % of .*risk\.credit-pulls\.application_ref's values \(\d+ sampled.*\) are .*lending\.applications\.loan_id keys/,
    );
  });
});
