import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import {
  ensureCatalogTopic,
  publishCatalogRecord,
  readCompactedRecords,
} from '../../src/adapters/kafka/catalog';
import { createKafkaClient } from '../../src/adapters/kafka/client';
import { MAX_DECISIONS } from '../../src/domain/audit';
import { toCatalogDescriptor } from '../../src/domain/catalog';
import { DecisionAction, Stage } from '../../src/domain/lifecycle';
import { MAX_COMMENT_LENGTH } from '../../src/domain/messages';
import { MAX_SPEC_BYTES, parseSpec, specJsonBytes } from '../../src/domain/spec';
import { rawSpec } from '../helpers/specs';
import { testPlatform } from '../helpers/platform';

/** The largest spec the cap lets in, in the costliest form: three-byte characters everywhere. */
function largestSpec() {
  const fields: Array<Record<string, string>> = [{ name: 'day', type: 'date' }];
  const build = () =>
    rawSpec({
      description: '€'.repeat(4000),
      tags: Array.from({ length: 50 }, (_, i) => `${i}${'€'.repeat(190)}`),
      schema: { fields, key: ['day'] },
    });
  for (;;) {
    fields.push({ name: `f${fields.length}`, type: 'string', description: '€'.repeat(2000) });
    if (specJsonBytes(build()) > MAX_SPEC_BYTES) {
      fields.pop();
      break;
    }
  }
  const rest = MAX_SPEC_BYTES - specJsonBytes(build()) - 3000;
  fields.push({ name: 'last', type: 'string', description: '€'.repeat(Math.floor(rest / 3)) });
  return build();
}

describe('the spec size cap holds below what Kafka takes (real Kafka)', function () {
  this.timeout(120_000);
  let kafka: Kafka;

  before(async function () {
    this.timeout(15 * 60_000);
    const config = await testPlatform();
    kafka = createKafkaClient({ connection: config.kafka, clientId: 'spec-size-test' });
  });

  it("publishes the catalog descriptor of the largest spec, with a full audit trail; Kafka's own limit refuses 1.77 MB", async () => {
    const raw = largestSpec();
    assert.ok(specJsonBytes(raw) > MAX_SPEC_BYTES - 4000 && specJsonBytes(raw) <= MAX_SPEC_BYTES);
    const spec = parseSpec(raw);
    const at = new Date().toISOString();
    const decisions = Array.from({ length: MAX_DECISIONS }, (_, i) => ({
      by: `approver-${i}`,
      action: DecisionAction.requestChanges,
      at,
      revision: 1,
      stage: Stage.awaitingApproval,
      comment: '€'.repeat(MAX_COMMENT_LENGTH),
    }));
    const descriptor = toCatalogDescriptor({
      spec,
      stage: Stage.awaitingApproval,
      decisions,
      resources: [],
      updatedAt: at,
      version: 1,
    });
    const size = Buffer.byteLength(JSON.stringify(descriptor));
    const topic = `_meshloop.spec-size-${randomUUID().slice(0, 8)}`;
    await ensureCatalogTopic(kafka, topic);
    const producer = kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();
    try {
      await publishCatalogRecord(producer, descriptor, topic);
      const { records } = await readCompactedRecords(kafka, { topic, timeoutMs: 20_000 });
      assert.equal(records.get(descriptor.productId)?.stage, 'awaitingApproval', `a ${size}-byte descriptor`);
      // The control: what the audit found, a descriptor of a 1.77 MB spec, is more than Kafka takes.
      const huge = { ...descriptor, spec: { ...descriptor.spec, description: 'x'.repeat(1_770_000) } };
      await assert.rejects(publishCatalogRecord(producer, huge, topic), /too large|larger than/i);
    } finally {
      await producer.disconnect();
      const admin = kafka.admin();
      await admin.connect();
      await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
      await admin.disconnect();
    }
  });
});
