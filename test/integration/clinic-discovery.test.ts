import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { Kafka } from 'kafkajs';
import { Partitioners } from 'kafkajs';
import { stringify as toYaml } from 'yaml';
import type { FoundJoin } from '../../src/agents/planner';
import { createKafkaClient } from '../../src/adapters/kafka/client';
import { createTopicsAndAwaitLeaders } from '../../src/adapters/kafka/topics';
import { loadConfig, temporalConnectOptions } from '../../src/config';
import { workflowIdOf } from '../../src/domain/spec';
import { createLogger } from '../../src/log';
import type { DiscoveryResult, discoveryWorkflow } from '../../workflows/discovery';
import type { RunningWorker } from '../../workers/orchestration';
import { startOrchestrationWorker } from '../../workers/orchestration';
import { CLINIC_APPOINTMENTS, clinicMesh, clinicRecords, clinicTimestamp } from '../fixtures/domains/clinic';
import { testEnvironment, testPlatform } from '../helpers/platform';
import { statusAfterChecks } from '../helpers/workflows';
import { KEEP_PAST_RECORDS } from '../helpers/topic-records';

/** A batch of appointments delivered a second time (a producer's retry), as the demo's seed once did. */
const REDELIVERED = 200;

describe('discovery on a hand-made clinic domain in Kafka (real platform)', function () {
  const run = `c${randomUUID().replace(/-/g, '').slice(0, 8)}`;
  const prefix = `${run}_`;
  const taskQueue = `clinic-discovery-test-${run}`;
  let kafka: Kafka;
  let connection: Connection;
  let client: Client;
  let worker: RunningWorker;
  let workDir: string;
  let result: DiscoveryResult | undefined;
  const id = (product: string) => `${prefix}${product}`;

  before(async function () {
    this.timeout(15 * 60_000);
    await testPlatform();
    workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'meshloop-clinic-'));
    const meshFile = path.join(workDir, 'mesh.yaml');
    await fs.writeFile(meshFile, toYaml(clinicMesh(prefix)));
    const config = loadConfig({
      ...testEnvironment(),
      MESHLOOP_MESH_FILE: meshFile,
      MESHLOOP_TASK_QUEUE: taskQueue,
      OPENAI_API_KEY: '',
    });
    kafka = createKafkaClient({ connection: config.kafka, clientId: 'clinic-discovery-test' });
    const records = clinicRecords({ prefix });
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
    const send = (topic: string, values: ReadonlyArray<Record<string, unknown>>) =>
      producer.send({
        topic,
        acks: -1,
        messages: values.map((value) => ({
          value: JSON.stringify(value),
          timestamp: String(clinicTimestamp(value)),
        })),
      });
    for (const [topic, values] of Object.entries(records)) await send(topic, values);
    await send(
      `${prefix}clinic.appointments`,
      records[`${prefix}clinic.appointments`]!.slice(1000, 1000 + REDELIVERED),
    );
    await producer.disconnect();
    connection = await Connection.connect(temporalConnectOptions(config.temporal.connection));
    client = new Client({ connection, namespace: config.temporal.namespace });
    worker = await startOrchestrationWorker(config, createLogger('clinic-discovery-test', 'warn'), {
      taskQueue,
    });
    result = await client.workflow.execute<typeof discoveryWorkflow>('discoveryWorkflow', {
      taskQueue,
      workflowId: `clinic-discovery-test-${run}`,
      args: [{ topicPrefix: prefix, maxMessages: 5000, sampleDeadlineMs: 60_000, agent: 'planner' }],
    });
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

  it('proposes every topic, the 70 % foreign key as a join, and no join with the decoy of the same key name', () => {
    assert.deepEqual([...result!.started].sort(), [
      id('archive.appointments_curated'),
      id('billing.claims_curated'),
      id('clinic.appointments_curated'),
      id('clinic.appointments_with_claims'),
      id('clinic.patients_masked'),
    ]);
    assert.equal(result!.skipped, 0);
    // `meshloop discover` prints these per topic.
    const appointments = result!.topics.find((t) => t.topic === id('clinic.appointments'));
    assert.deepEqual(
      [appointments?.records, appointments?.parsed, appointments?.mistyped, appointments?.duplicates],
      [CLINIC_APPOINTMENTS + REDELIVERED, CLINIC_APPOINTMENTS, 4, REDELIVERED],
    );
  });

  it('joins claims to appointments on keys named differently, with containment and coverage in the evidence', async function () {
    this.timeout(2 * 60_000);
    const status = await statusAfterChecks(client, id('clinic.appointments_with_claims'));
    assert.equal(status.stage, 'awaitingApproval');
    assert.match(status.spec.sql!, /ON appointments\.`appointment_id` = claims\.`appt`/);
    assert.match(
      status.spec.proposal!.evidence.map((e) => e.summary).join('\n'),
      /100 % of .*billing\.claims\.appt's values \(\d+ sampled\) are .*clinic\.appointments\.appointment_id keys; they cover (6\d|7\d)(\.\d)? % of those keys/,
    );
  });

  it('profiles appointments despite 4 mistyped records and a redelivered batch, counting them as rejected and left out', async function () {
    this.timeout(2 * 60_000);
    const status = await statusAfterChecks(client, id('clinic.appointments_curated'));
    assert.equal(status.spec.schema.fields.find((f) => f.name === 'duration_min')?.type, 'long');
    assert.deepEqual(status.spec.schema.key, ['appointment_id']);
    assert.match(
      status.spec.proposal!.evidence[0]!.summary,
      new RegExp(
        `${(CLINIC_APPOINTMENTS + REDELIVERED).toLocaleString('en')} records sampled, 0 unparseable, 4 rejected as ` +
          `mistyped \\(duration_min: string in 4 of 2,500 \\(long expected\\)\\), ${REDELIVERED} redelivered duplicates left out`,
      ),
    );
  });

  it('masks the patients’ name, date of birth, address and IP address by default', async function () {
    this.timeout(2 * 60_000);
    const status = await statusAfterChecks(client, id('clinic.patients_masked'));
    assert.deepEqual(
      Object.fromEntries(status.spec.classification.masking.map((m) => [m.field, m.strategy])),
      { name: 'tokenize', date_of_birth: 'truncate', address: 'redact', portal_ip: 'hash' },
    );
    assert.equal(status.spec.schema.eventTimeField, 'registered_at');
  });

  it('reports the patient key it found, unproposed because patients hold personal data', async () => {
    const report = JSON.parse(await fs.readFile(result!.reportFile, 'utf8')) as { joins: FoundJoin[] };
    const keys = report.joins.map((j) => `${j.child} → ${j.parent}${j.notProposed ? ' (not proposed)' : ''}`);
    assert.deepEqual(keys.sort(), [
      `${id('billing.claims.appt')} → ${id('clinic.appointments.appointment_id')}`,
      `${id('clinic.appointments.patient_ref')} → ${id('clinic.patients.id')} (not proposed)`,
    ]);
  });
});
