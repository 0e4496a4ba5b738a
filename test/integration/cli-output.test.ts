import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { ensureCatalogTopic, publishCatalogRecord } from '../../src/adapters/kafka/catalog';
import { createKafkaClient } from '../../src/adapters/kafka/client';
import { toCatalogDescriptor } from '../../src/domain/catalog';
import { processRecordKey } from '../../src/signing/record-key';
import { testConfig, testEnvironment, testPlatform } from '../helpers/platform';
import { validSpec } from '../helpers/specs';
import { runCli } from '../helpers/processes';

const root = path.resolve(__dirname, '..', '..');

/**
 * `bin/meshloop <args>` with stdout read slowly: nothing is read for a second (the pipe's 64 KB
 * buffer fills and the CLI's writes wait), then a chunk every few milliseconds.
 */
function runWithSlowReader(args: readonly string[]): Promise<{ code: number; stdout: Buffer }> {
  return new Promise((resolve, reject) => {
    const child = spawn(path.join(root, 'bin', 'meshloop'), [...args], {
      env: testEnvironment(),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const chunks: Buffer[] = [];
    child.stdout.pause();
    setTimeout(() => child.stdout.resume(), 1000);
    child.stdout.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      child.stdout.pause();
      setTimeout(() => child.stdout.resume(), 2);
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code: code ?? -1, stdout: Buffer.concat(chunks) }));
  });
}

describe('meshloop CLI: output through a pipe', function () {
  this.timeout(5 * 60_000);

  before(async function () {
    this.timeout(15 * 60_000);
    const config = await testPlatform();
    // Whatever ran before, the catalog holds more than a pipe does: retired descriptors of a domain of
    // this test's own (signed with the key the CLI checks), each with a long description.
    const kafka = createKafkaClient({ connection: config.kafka, clientId: 'cli-output-test' });
    await ensureCatalogTopic(kafka);
    const producer = kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();
    const run = randomUUID().slice(0, 8);
    const key = processRecordKey(testConfig().records.keyFile);
    try {
      for (let i = 0; i < 40; i++)
        await publishCatalogRecord(
          producer,
          toCatalogDescriptor({
            spec: validSpec({
              name: `pipe_${run}_${i}`,
              description: `A retired product of the pipe test. ${'x'.repeat(2000)}`,
            }),
            stage: 'retired',
            decisions: [],
            resources: [],
            updatedAt: new Date().toISOString(),
            version: 1,
          }),
          undefined,
          key,
        );
    } finally {
      await producer.disconnect();
    }
  });

  it('catalog --json is whole when its reader is slow, past the 64 KB of a pipe', async () => {
    const fast = await runCli(['catalog', '--json']);
    assert.equal(fast.code, 0, fast.stderr);
    const slow = await runWithSlowReader(['catalog', '--json']);
    assert.equal(slow.code, 0);
    const text = slow.stdout.toString('utf8');
    // Products come and go on the shared platform between the two runs: compare shapes, not bytes.
    assert.ok(Array.isArray(JSON.parse(text)), 'the whole JSON array arrived');
    assert.ok(
      slow.stdout.length > 65_536,
      `the catalog printed ${slow.stdout.length} bytes: more than a pipe holds is what this test is about`,
    );
  });
});
