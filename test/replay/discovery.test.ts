import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';

/**
 * A recorded discovery run (planner, six topics, proposals started as child workflows) must
 * replay on the current workflow code: a change that breaks determinism fails here, not in
 * running schedules. Re-record with MESHLOOP_RECORD_HISTORIES=1 and the discovery integration test.
 */
describe('replaying a recorded discovery run', function () {
  this.timeout(120_000);

  it('replays without non-determinism', async () => {
    const file = path.join(__dirname, '..', 'fixtures', 'histories', 'discovery-planner.json');
    const history = historyFromJSON(JSON.parse(await readFile(file, 'utf8')) as unknown);
    assert.ok((history.events?.length ?? 0) > 20, 'a whole run was recorded');
    const started = (history.events ?? []).filter(
      (e) => e.startChildWorkflowExecutionInitiatedEventAttributes,
    );
    assert.ok(started.length >= 5, `child workflows started: ${started.length}`);
    await Worker.runReplayHistory(
      { workflowsPath: require.resolve('../../workflows') },
      history,
      'discovery-planner',
    );
  });
});
