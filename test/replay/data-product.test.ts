import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import { productMetricsSinks } from '../../src/metrics/worker';
import { historiesDir } from '../helpers/workflows';

/** Product workflows report metric updates through a sink; replay calls none, but it must exist. */
const sinks = productMetricsSinks(undefined);

/**
 * Recorded histories of dataProductWorkflow (from test/workflows, MESHLOOP_RECORD_HISTORIES=1)
 * replayed against today's workflow code: a change that would break running products fails here.
 * Change running behaviour behind `wf.patched` and keep these files.
 */
describe('dataProductWorkflow replays its recorded histories', function () {
  this.timeout(120_000);
  let bundle: WorkflowBundleWithSourceMap;
  let files: string[];

  before(async () => {
    files = (await readdir(historiesDir)).filter((file) => file.endsWith('.json')).sort();
    bundle = await bundleWorkflowCode({ workflowsPath: require.resolve('../../workflows'), logger: silent });
  });

  it('has recorded histories for the main paths of the lifecycle', () => {
    for (const expected of [
      'approve-by-signal',
      'reject-by-update',
      'request-changes-then-approve',
      'expiry',
      'provisioning-failure-then-retry',
      'retire-refused-then-forced',
      'continue-as-new-first-run',
      // Approval signing and Slack, and products recorded before them (still running somewhere).
      'signed-approvals',
      // v2 signatures (spec hash, lifetime, nonce): a run from carried state that verifies it.
      'signed-approvals-v2',
      'slack-approval',
      'slack-reminders-expiry',
      'pre-signing-continue-as-new-last-run',
      'table-created-then-retired',
      'table-suspended-then-redeployed',
      'table-evolved-then-deprecated',
      'analysis-breach-then-recovered',
      // The output schema tested in the Schema Registry before approval, registered after it.
      'amendment-refused-by-schema-registry',
      // The critic's preview and review before approval: a redundant proposal dismissed.
      'critic-dismissed',
    ]) {
      assert.ok(files.includes(`${expected}.json`), `missing ${expected}.json in ${historiesDir}`);
    }
  });

  it('replays every recorded history without a nondeterminism error', async () => {
    const histories = await Promise.all(
      files.map(async (file) => {
        const history = historyFromJSON(JSON.parse(await readFile(path.join(historiesDir, file), 'utf8')));
        // The workflow checks its own id against its spec: replay under the id it ran with.
        const recordedId = history.events?.[0]?.workflowExecutionStartedEventAttributes?.workflowId;
        return { workflowId: recordedId || path.basename(file, '.json'), history };
      }),
    );
    const failures: string[] = [];
    let replayed = 0;
    for await (const result of Worker.runReplayHistories({ workflowBundle: bundle, sinks }, histories)) {
      replayed += 1;
      if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
    }
    assert.equal(replayed, files.length);
    assert.deepEqual(failures, []);
  });

  it('detects a history that does not match the code', async () => {
    // Guard against a replay test that passes vacuously: rename an activity the history scheduled.
    const original = await readFile(path.join(historiesDir, 'approve-by-signal.json'), 'utf8');
    const tampered = original.replace(/"name": "createKafkaTopic"/g, '"name": "createKafkaTopicV0"');
    assert.notEqual(tampered, original, 'the history schedules createKafkaTopic');
    await assert.rejects(
      Worker.runReplayHistory(
        { workflowBundle: bundle, sinks },
        historyFromJSON(JSON.parse(tampered)),
        historyFromJSON(JSON.parse(original)).events?.[0]?.workflowExecutionStartedEventAttributes
          ?.workflowId ?? 'tampered',
      ),
      /nondetermin/i,
    );
  });
});

const silent = {
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  log: () => undefined,
  warn: () => undefined,
  error: (message: string) => process.stderr.write(`bundler: ${message}\n`),
};
