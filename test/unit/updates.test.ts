import assert from 'node:assert/strict';
import { executeWhenReady } from '../../src/adapters/temporal/updates';

/** An update refusal as the client surfaces it: an error whose cause is the validator's failure. */
function refusal(type: string, message = type): Error {
  return Object.assign(new Error('update rejected'), { cause: { type, message } });
}

describe('executeWhenReady', () => {
  it('tries again while the product is not ready or under review, telling the caller once why', async () => {
    const answers = [
      refusal('NotReady'),
      refusal('UnderReview', "under the critic's review"),
      refusal('UnderReview'),
    ];
    const heard: string[] = [];
    let calls = 0;
    const result = await executeWhenReady(
      () => {
        calls++;
        const next = answers.shift();
        return next ? Promise.reject(next) : Promise.resolve('approved');
      },
      { delayMs: 1, onWait: (reason) => heard.push(reason) },
    );
    assert.equal(result, 'approved');
    assert.equal(calls, 4);
    assert.deepEqual(heard, ['NotReady']);
  });

  it('passes any other refusal on at once', async () => {
    let calls = 0;
    await assert.rejects(
      executeWhenReady(() => {
        calls++;
        return Promise.reject(refusal('WrongStage'));
      }),
      /update rejected/,
    );
    assert.equal(calls, 1);
  });

  it('gives up when its time is over, with the last refusal', async () => {
    await assert.rejects(
      executeWhenReady(() => Promise.reject(refusal('UnderReview')), { timeoutMs: 20, delayMs: 5 }),
      (error: Error & { cause?: { type?: string } }) => error.cause?.type === 'UnderReview',
    );
  });
});
