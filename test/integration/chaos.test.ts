import assert from 'node:assert/strict';
import type { FaultResult } from '../helpers/chaos';
import { ChaosScenario, chaosFaults, describeCounts, exact } from '../helpers/chaos';
import { chaosPlatform, stopChaosPlatform } from '../helpers/chaos-platform';

/**
 * The chaos suite: real demo products (the planner's proposals for the demo seed, approved) on a
 * platform of the suite's own, records flowing at a few per second, and one fault after another: the
 * worker killed during a deployment, the TaskManager killed, Kafka stopped, the Temporal server, the
 * Iceberg catalog and the JobManager restarted. After each, with no command from a person, every
 * product is `active` again with its jobs running, and each product's topic holds every input record
 * once and its table every topic record once (counts and distinct keys). The faults share the
 * products: each starts from where the one before left the mesh. bench/chaos times the recoveries.
 */
describe('chaos: the mesh heals itself on the real platform', function () {
  let scenario: ChaosScenario;
  const results: FaultResult[] = [];

  before(async function () {
    this.timeout(15 * 60_000);
    const began = Date.now();
    scenario = new ChaosScenario(await chaosPlatform());
    await scenario.setUp();
    process.stderr.write(
      `      [chaos] platform and ${scenario.products.length} products ready in ${((Date.now() - began) / 1000).toFixed(0)} s\n`,
    );
  });

  after(async function () {
    this.timeout(3 * 60_000);
    await scenario?.tearDown();
    await stopChaosPlatform();
    for (const result of results) {
      process.stderr.write(
        `      [chaos] ${result.fault}: active ${result.secondsToActive.toFixed(1)} s after\n`,
      );
    }
  });

  for (const fault of chaosFaults) {
    it(`${fault.name}: every product active again without a person, each record once in topic and table`, async function () {
      this.timeout(10 * 60_000);
      const result = await scenario.run(fault);
      results.push(result);
      process.stderr.write(
        `      [chaos] ${result.detail}\n` +
          Object.entries(result.stages)
            .map(
              ([productId, stages]) =>
                `      [chaos]   ${productId}: ${stages.join(' → ')}; ${(result.decisions[productId] ?? []).join(', ')}\n`,
            )
            .join(''),
      );
      assert.equal(result.counts.length, scenario.products.length);
      for (const counts of result.counts) assert.ok(exact(counts), describeCounts(counts));
    });
  }
});
