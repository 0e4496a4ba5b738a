/**
 * bench/cli: how long `meshloop --help` and `meshloop --version` take as whole processes, next to a bare
 * `node -e 0` timed in the same run, the two in turn (A B A B ...), so the ratio A/B holds when the
 * machine's speed drifts. Reports the median wall time of each and the median of the pairwise ratios
 * (our machines are noisy: quote the ratio). The goal (issue 17): `--help` within 4x of `node -e 0`.
 *
 *   npm run bench:cli                  # 15 pairs per command after 2 warm-up pairs
 *   BENCH_RUNS=30 npm run bench:cli
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const runs = Number(process.env.BENCH_RUNS ?? 15);
const warmup = 2;
const meshloop = path.resolve(__dirname, '..', '..', 'bin', 'meshloop');
const baseline = [process.execPath, '-e', '0'] as const;

/** One run's wall time in milliseconds; a failed run stops the bench. */
function timed(command: readonly string[]): number {
  const [file = '', ...args] = command;
  const began = process.hrtime.bigint();
  const result = spawnSync(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - began) / 1e6;
  if (result.status !== 0) {
    throw new Error(
      `${command.join(' ')} exited ${result.status ?? result.signal}: ${result.stderr.toString()}`,
    );
  }
  return ms;
}

const median = (values: readonly number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

function compare(label: string, command: readonly string[]) {
  // The first run builds dist/ when the sources changed since the last build: a warm-up.
  for (let i = 0; i < warmup; i++) {
    timed(command);
    timed(baseline);
  }
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < runs; i++) {
    a.push(timed(command));
    b.push(timed(baseline));
  }
  const ratios = a.map((ms, i) => ms / b[i]!);
  return {
    label,
    ms: median(a),
    baselineMs: median(b),
    ratio: median(ratios),
    min: Math.min(...ratios),
    max: Math.max(...ratios),
  };
}

const rows = [
  compare('meshloop --help', [meshloop, '--help']),
  compare('meshloop --version', [meshloop, '--version']),
];
process.stdout.write(
  `bench/cli: ${runs} runs of each command against \`node -e 0\` (node ${process.version}), in turn; wall time, medians\n\n`,
);
for (const row of rows) {
  process.stdout.write(
    `${row.label.padEnd(20)} ${row.ms.toFixed(0).padStart(5)} ms   node -e 0 ${row.baselineMs.toFixed(0).padStart(4)} ms   ` +
      `ratio ${row.ratio.toFixed(2)} (min ${row.min.toFixed(2)}, max ${row.max.toFixed(2)})\n`,
  );
}
const help = rows[0]!;
process.stdout.write(
  `\ngoal: --help within 4x of node -e 0: ${help.ratio <= 4 ? 'met' : 'NOT met'} (${help.ratio.toFixed(2)}x)\n`,
);
