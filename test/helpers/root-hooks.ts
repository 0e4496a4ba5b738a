import { DefaultLogger, Runtime } from '@temporalio/worker';
import { stopObjectStorePlatform } from './object-store-platform';
import { stopTestPlatform } from './platform';

// Workers in tests log only warnings: state changes of every short-lived worker drown the report.
Runtime.install({ logger: new DefaultLogger('WARN') });
process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';

/** Stops the shared test platform once, after the whole run, if this run started it. */
export async function mochaGlobalTeardown(): Promise<void> {
  await stopObjectStorePlatform();
  await stopTestPlatform();
}
