import { DefaultLogger, Runtime } from '@temporalio/worker';
import { stopChaosPlatform } from './chaos-platform';
import { stopObjectStorePlatform } from './object-store-platform';
import { stopTestPlatform } from './platform';
import { stopSecuredPlatform } from './secured-platform';

// Workers in tests log only warnings: state changes of every short-lived worker drown the report.
Runtime.install({ logger: new DefaultLogger('WARN') });
process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';

/**
 * Stops the test platforms once, after the whole run: the chaos and secured ones always (the chaos
 * suite stops its own first), the shared one if this run started it.
 */
export async function mochaGlobalTeardown(): Promise<void> {
  await stopChaosPlatform();
  await stopObjectStorePlatform();
  await stopSecuredPlatform();
  await stopTestPlatform();
}
