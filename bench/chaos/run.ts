/**
 * bench/chaos: how long the mesh takes to heal. The chaos suite's scenario (test/helpers/chaos.ts) on a
 * platform of its own (port offset MESHLOOP_TEST_PORT_OFFSET + 2000, purged at the end): demo products
 * running with records flowing, then each fault in turn. For each fault: seconds from the fault's end
 * (the platform healthy again after `stack up`) to every product `active` with its jobs running, the
 * stages the products went through, and the counts (input records, topic records and keys, table rows
 * and keys) once the feed pauses. The baseline, measured in the same run: seconds from approving the
 * products to their being active with their jobs running (a fresh deployment).
 *
 *   npm run bench:chaos
 *   npm run bench:chaos -- --json
 *   npm run bench:chaos -- --only taskmanager,jobmanager     (faults whose name contains one of these)
 *
 * A fault the mesh does not heal is reported with its error; the next faults still run when they can.
 */
import type { FaultResult } from '../../test/helpers/chaos';
import { ChaosScenario, chaosFaults, describeCounts, exact } from '../../test/helpers/chaos';
import { chaosPlatform, stopChaosPlatform } from '../../test/helpers/chaos-platform';

type Row = Readonly<{ fault: string; result?: FaultResult; error?: string; seconds?: number }>;

const args = process.argv.slice(2);
const asJson = args.includes('--json');
const onlyAt = args.indexOf('--only');
const only = onlyAt >= 0 ? (args[onlyAt + 1] ?? '').split(',').filter(Boolean) : [];
const out = (line: string) => process.stdout.write(`${line}\n`);
const note = (line: string) => process.stderr.write(`${line}\n`);

function table(baseline: number, rows: readonly Row[]): string[] {
  const lines = [
    `| fault | to every product active (s) | products exactly once | stages | what happened |`,
    `| --- | --- | --- | --- | --- |`,
    `| none: approval → active (baseline) | ${baseline.toFixed(1)} | | | |`,
  ];
  for (const row of rows) {
    if (!row.result) {
      lines.push(
        `| ${row.fault} | did not heal | | | ${(row.error ?? '').split('\n').join(' ').slice(0, 300)} |`,
      );
      continue;
    }
    const { result } = row;
    const exactly = result.counts.filter(exact).length;
    const stages = Object.entries(result.stages)
      .map(([productId, seen]) => `${productId}: ${seen.join(' → ')}`)
      .join('; ');
    lines.push(
      `| ${row.fault} | ${result.secondsToActive.toFixed(1)} | ${exactly}/${result.counts.length} | ${stages} | ${result.detail} |`,
    );
  }
  return lines;
}

async function main(): Promise<void> {
  const faults = chaosFaults.filter(
    (fault) =>
      only.length === 0 || only.some((part) => fault.name.toLowerCase().includes(part.toLowerCase())),
  );
  if (faults.length === 0) throw new Error(`no fault matches --only ${only.join(',')}`);
  const began = Date.now();
  const scenario = new ChaosScenario(await chaosPlatform());
  const rows: Row[] = [];
  let baseline = NaN;
  try {
    const deployAll = !faults.some((fault) => fault.deploys);
    baseline = await scenario.setUp({ deployAll });
    note(`[bench:chaos] ${scenario.products.length} products active ${baseline.toFixed(1)} s after approval`);
    for (const fault of faults) {
      const started = Date.now();
      try {
        const result = await scenario.run(fault);
        rows.push({ fault: fault.name, result, seconds: (Date.now() - started) / 1000 });
        note(`[bench:chaos] ${fault.name}: active ${result.secondsToActive.toFixed(1)} s after its end`);
        for (const counts of result.counts) note(`[bench:chaos]   ${describeCounts(counts)}`);
      } catch (error) {
        rows.push({
          fault: fault.name,
          error: (error as Error).message,
          seconds: (Date.now() - started) / 1000,
        });
        note(`[bench:chaos] ${fault.name}: ${(error as Error).message}`);
      }
    }
  } finally {
    await scenario.tearDown();
    await stopChaosPlatform();
  }
  const total = (Date.now() - began) / 1000;
  if (asJson) {
    out(JSON.stringify({ baselineSeconds: baseline, totalSeconds: total, faults: rows }, null, 2));
  } else {
    for (const line of table(baseline, rows)) out(line);
    out(
      `\n(whole run ${total.toFixed(0)} s, platform start included; load ${(await import('node:os')).loadavg()[0]!.toFixed(2)})`,
    );
  }
  if (rows.some((row) => !row.result)) process.exitCode = 1;
}

main().catch((error: unknown) => {
  note(`bench:chaos failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
