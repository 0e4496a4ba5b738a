import { ensureDuckDbExtensions } from '../../src/adapters/duckdb/extensions';
import { AnalysisResultsTable } from '../../src/analysis/results-table';
import { noDataOutcome, resultRowsOf } from '../../src/analysis/cycle';

/**
 * A separate process appending cycles to a results table, as another worker would:
 * `node --import tsx append-cycles.ts <catalog url> <cache dir> <table location> <namespace> <name> <product> <cycles>`.
 */
async function main() {
  const [catalogUrl, cacheDir, location, namespace, name, productId, cycles] = process.argv.slice(2);
  const extensionDir = await ensureDuckDbExtensions(cacheDir as string);
  const table = {
    ref: { catalog: 'lake', namespace: namespace as string, name: name as string },
    location: location as string,
  };
  for (let i = 0; i < Number(cycles); i++) {
    const results = await AnalysisResultsTable.open({
      extensionDir,
      catalog: { catalogUrl: catalogUrl as string },
      table,
    });
    try {
      await results.appendCycle(
        resultRowsOf(noDataOutcome(productId as string, `k${i}`, new Date(), 'test')),
      );
    } finally {
      results.close();
    }
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${String(error)}\n`);
  process.exit(1);
});
