import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { newestCheckpointOnDisk } from '../../src/creation/checkpoints';
import type { JobFaultInput } from '../../src/domain/job-faults';
import { jobFaultOf } from '../../src/domain/job-faults';
import {
  currentSeries,
  MAX_RECOVERY_ATTEMPTS,
  mayRecover,
  recoveryBackoffMs,
  withAttempt,
} from '../../src/domain/recovery';

const failed = (failure: string, more: Partial<JobFaultInput> = {}): JobFaultInput => ({
  job: 'creation',
  jobName: 'meshloop-create:orders.daily_revenue:r1',
  state: 'FAILED',
  failure,
  outputTopicExists: true,
  ...more,
});

describe('job faults: the platform’s or the job’s own', () => {
  it('a running or restarting job is no fault yet (Flink restarts it first)', () => {
    for (const state of ['RUNNING', 'RESTARTING', 'FAILING', 'INITIALIZING', 'CREATED'] as const) {
      assert.equal(jobFaultOf({ ...failed('x'), state }), undefined, state);
    }
  });

  it('the platform: a lost TaskManager, no slot, an unreachable broker, a forgotten job', () => {
    const platform = [
      'org.apache.flink.runtime.jobmaster.JobMasterException: TaskManager with id 127.0.0.1:36123-abc is no longer reachable.',
      'java.util.concurrent.TimeoutException: Heartbeat of TaskManager with id 127.0.0.1:1234 timed out.',
      'org.apache.flink.runtime.jobmanager.scheduler.NoResourceAvailableException: Could not acquire the minimum required resources.',
      'org.apache.flink.runtime.io.network.netty.exception.RemoteTransportException: Connection unexpectedly closed by remote task manager',
      'org.apache.kafka.common.errors.TimeoutException: Timeout of 60000ms expired before the position for partition orders-0 could be determined',
      'org.apache.kafka.common.errors.TimeoutException: Topic orders.daily_revenue not present in metadata after 10000 ms.',
      'org.apache.kafka.common.errors.ProducerFencedException: There is a newer producer with the same transactionalId',
      'java.net.ConnectException: Connection refused',
    ];
    for (const failure of platform) assert.equal(jobFaultOf(failed(failure))?.source, 'platform', failure);
    const lost = jobFaultOf({ ...failed(''), state: 'NOT_FOUND' });
    assert.equal(lost?.source, 'platform');
    assert.match(lost.reason, /no longer exists in Flink/);
    assert.equal(jobFaultOf({ ...failed(''), state: 'SUSPENDED' })?.source, 'platform');
  });

  it("the job's own: its SQL, its data, its deleted output topic; an unknown failure too", () => {
    const own = [
      'org.apache.flink.table.api.ValidationException: Cannot resolve field [amount]',
      'java.lang.NumberFormatException: For input string: "abc"',
      'java.lang.ArithmeticException: / by zero',
      'java.io.IOException: Failed to deserialize consumer record due to (cause: java.io.IOException: Unknown data format. Magic number does not match)',
      'org.apache.kafka.common.errors.UnknownTopicOrPartitionException: This server does not host this topic-partition.',
      'java.lang.RuntimeException: something nobody expected',
    ];
    for (const failure of own) assert.equal(jobFaultOf(failed(failure))?.source, 'own', failure);
    // "not present in metadata" is the platform's while the topic exists, the product's once it is deleted.
    const deleted = jobFaultOf(
      failed(
        'org.apache.kafka.common.errors.TimeoutException: Topic x not present in metadata after 10000 ms.',
        {
          outputTopicExists: false,
        },
      ),
    );
    assert.equal(deleted?.source, 'own');
    assert.match(deleted.reason, /output topic is gone/);
    assert.equal(jobFaultOf({ ...failed(''), state: 'CANCELED' })?.source, 'own');
  });

  it('the reason names the job and keeps Flink’s words', () => {
    const fault = jobFaultOf(
      failed('java.net.ConnectException: Connection refused', {
        job: 'materialization',
        jobName: 'meshloop-materialize:a.b:r2',
      }),
    );
    assert.match(
      fault!.reason,
      /materialization job meshloop-materialize:a\.b:r2 is FAILED \(the platform\): java\.net\.ConnectException/,
    );
  });
});

describe('automatic recovery: bounded, deterministic backoff', () => {
  it('waits 5 s, 10 s, 20 s … at most 5 minutes', () => {
    assert.deepEqual([0, 1, 2, 3].map(recoveryBackoffMs), [5_000, 10_000, 20_000, 40_000]);
    assert.equal(recoveryBackoffMs(10), 300_000);
    assert.equal(recoveryBackoffMs(1000), 300_000);
  });

  it(`gives up after ${MAX_RECOVERY_ATTEMPTS} attempts in an hour; a series older than an hour starts over`, () => {
    const t0 = Date.parse('2026-12-05T10:00:00Z');
    let series = undefined as ReturnType<typeof withAttempt> | undefined;
    for (let i = 0; i < MAX_RECOVERY_ATTEMPTS; i++) {
      assert.ok(mayRecover(series, t0 + i * 1000));
      series = withAttempt(series, t0 + i * 1000);
    }
    assert.equal(series?.attempts, MAX_RECOVERY_ATTEMPTS);
    assert.equal(mayRecover(series, t0 + 60_000), false);
    const later = t0 + 61 * 60_000;
    assert.equal(currentSeries(series, later), undefined);
    assert.ok(mayRecover(series, later));
    assert.deepEqual(withAttempt(series, later), { attempts: 1, since: new Date(later).toISOString() });
  });
});

describe('retained checkpoints on disk', () => {
  it('the newest complete checkpoint of the job: highest chk-<n> with its _metadata', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshloop-chk-'));
    const jobId = 'a'.repeat(32);
    try {
      for (const [n, complete] of [
        [3, true],
        [12, true],
        [13, false],
      ] as const) {
        fs.mkdirSync(path.join(dir, jobId, `chk-${n}`), { recursive: true });
        if (complete) fs.writeFileSync(path.join(dir, jobId, `chk-${n}`, '_metadata'), 'x');
      }
      fs.mkdirSync(path.join(dir, jobId, 'shared'), { recursive: true });
      assert.equal(
        await newestCheckpointOnDisk(`file://${dir}`, jobId),
        `file://${path.join(dir, jobId, 'chk-12')}`,
      );
      assert.equal(await newestCheckpointOnDisk(`file://${dir}`, 'b'.repeat(32)), undefined);
      // Not a job id: never a path outside the directory.
      assert.equal(await newestCheckpointOnDisk(`file://${dir}`, '../etc'), undefined);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
