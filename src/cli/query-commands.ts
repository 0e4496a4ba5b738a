import type { Command } from 'commander';
import { InvalidArgumentError, Option } from 'commander';
import { positiveInteger, productArgument } from './options';
import { loadConfig } from '../config';
import { productSnapshots, queryProduct } from '../query/product-query';
import { progressLine, table } from './output';

// Rows are JSON values (DuckDB's JSON conversion): strings as they are, the rest as JSON.
const cell = (value: unknown): string =>
  value === null || value === undefined ? '' : typeof value === 'string' ? value : JSON.stringify(value);

/** RFC 4180: quote a field when it holds a comma, quote or line break. */
const csvField = (value: unknown): string => {
  const text = cell(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
};

/** `--as-of`: a snapshot id (digits) or a time Date can read. */
function snapshotOrTime(value: string): string {
  if (/^\d{1,20}$/.test(value) || !Number.isNaN(Date.parse(value))) return value;
  throw new InvalidArgumentError(
    `'${value}' is neither a snapshot id nor a time: give an id from \`meshloop snapshots <product>\` or an ISO time like 2026-12-01T12:00:00Z`,
  );
}

export function registerQueryCommands(program: Command): void {
  program
    .command('query')
    .description(
      "SQL over a product's Iceberg table in embedded DuckDB, read-only; the table is `t` (without SQL: the first rows)",
    )
    .argument('<product>', 'product id, <domain>.<name>', productArgument)
    .argument('[sql]', 'one SELECT, e.g. "select count(*) from t"')
    .option('--as-of <snapshot>', 'a snapshot id, or an ISO time (the snapshot current then)', snapshotOrTime)
    .addOption(new Option('--json', 'rows as JSON').conflicts('csv'))
    .option('--csv', 'rows as CSV')
    .option('--limit <n>', 'at most this many rows (1 to 1,000,000)', positiveInteger(1_000_000), 10_000)
    .action(
      async (
        product: string,
        sql: string | undefined,
        options: { asOf?: string; json?: boolean; csv?: boolean; limit: number },
      ) => {
        const config = loadConfig();
        const answer = await queryProduct(config, product, {
          sql,
          asOf: options.asOf,
          maxRows: options.limit,
          progress: progressLine,
        });
        if (options.json) {
          process.stdout.write(
            `${JSON.stringify({ table: answer.table, snapshotId: answer.snapshotId, committedAt: answer.committedAt, columns: answer.columns, rows: answer.rows, truncated: answer.truncated }, null, 2)}\n`,
          );
          return;
        }
        if (options.csv) {
          const lines = [
            answer.columns.map(csvField).join(','),
            ...answer.rows.map((row) => answer.columns.map((c) => csvField(row[c])).join(',')),
          ];
          process.stdout.write(`${lines.join('\n')}\n`);
          return;
        }
        process.stdout.write(
          `${table([[...answer.columns], ...answer.rows.map((row) => answer.columns.map((c) => cell(row[c])))])}\n`,
        );
        process.stderr.write(
          `(${answer.rows.length}${answer.truncated ? '+' : ''} rows; ${answer.table} at snapshot ${answer.snapshotId}, committed ${answer.committedAt})\n`,
        );
      },
    );

  program
    .command('snapshots')
    .description("A product's Iceberg snapshots, oldest first (ids for `query --as-of`)")
    .argument('<product>', 'product id, <domain>.<name>', productArgument)
    .option('--json', 'as JSON')
    .action(async (product: string, options: { json?: boolean }) => {
      const config = loadConfig();
      const { table: name, snapshots } = await productSnapshots(config, product);
      if (options.json) {
        process.stdout.write(`${JSON.stringify({ table: name, snapshots }, null, 2)}\n`);
        return;
      }
      process.stdout.write(
        `${table([
          ['snapshot', 'committed', 'operation', 'added', 'rows', 'schema', ''],
          ...snapshots.map((s) => [
            s.snapshotId,
            s.committedAt,
            s.operation,
            cell(s.addedRecords),
            cell(s.totalRecords),
            cell(s.schemaId),
            s.current ? 'current' : '',
          ]),
        ])}\n`,
      );
    });
}
