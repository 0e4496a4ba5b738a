import assert from 'node:assert/strict';
import { ApplicationFailure } from '@temporalio/common';
import type { ActivityClients } from '../../activities';
import { createActivities } from '../../activities';
import { createLogger } from '../../src/log';
import { validSpec } from '../helpers/specs';

/** Clients that are never reached: building the activities must not connect to anything. */
const unreachable = new Proxy(
  {},
  {
    get: () => {
      throw new Error('a client was used while the activities were built');
    },
  },
);

function built() {
  return createActivities({
    log: createLogger('activities-test', 'error', () => undefined),
    kafka: unreachable,
    producer: unreachable,
    temporal: { client: unreachable, taskQueue: 'unused' },
    flink: {
      gateway: unreachable,
      rest: unreachable,
      connectors: {
        kafka: { bootstrapServers: 'kafka:1', properties: {} },
        schemaRegistry: { url: 'http://registry', options: {} },
      },
      uiUrl: 'http://flink',
    },
    materializers: {},
    lake: {
      iceberg: unreachable,
      icebergConnection: { catalogUrl: 'http://iceberg' },
      catalogName: 'lake',
      extensionDir: () => Promise.resolve(''),
    },
    settings: { meshFile: 'mesh.yaml', dataDir: '/nonexistent', materialization: { provider: 'flink' } },
  } as unknown as ActivityClients);
}

describe('activities: one factory', () => {
  it('registers every activity under the name recorded histories and running workflows use', () => {
    assert.deepEqual(Object.keys(built()).sort(), [
      'checkOutputSchemaCompatibility',
      'checkProductSql',
      'createIcebergTable',
      'createKafkaTopic',
      'deleteTemporalAnalysisSchedule',
      'deployProductJob',
      'describeIcebergTable',
      'describeProductJob',
      'describeTemporalAnalysisSchedule',
      'ensureTemporalAnalysisSchedule',
      'findActiveDependants',
      'latestRetainedCheckpoint',
      'pauseTemporalAnalysisSchedule',
      'profileKafkaTopics',
      'proposeDataProducts',
      'proposeFromAnalysis',
      'publishCatalogDescriptor',
      'readMeshGovernance',
      'readProposalStarts',
      'readStoredAnalysisCycle',
      'recordAnalysisProposalOutcomes',
      'recordProposalOutcomes',
      'registerOutputSchema',
      'resumeTemporalAnalysisSchedule',
      'runAnalysisCycle',
      'sendApprovalReminder',
      'startMaterialization',
      'stopMaterialization',
      'stopProductJob',
      'syncSlackProposalMessage',
    ]);
  });

  it('translates failures: a Meshloop error leaves an activity as an ApplicationFailure of its type', async () => {
    const spec = validSpec();
    await assert.rejects(
      built().createIcebergTable({ productId: 'someone.else', revision: 1, spec }),
      (error: unknown) =>
        error instanceof ApplicationFailure && error.type === 'InvalidSpec' && error.nonRetryable === true,
    );
  });
});
