import { readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { spawn } from 'node:child_process';
import type { PythonTools } from '../../src/python/venv';
import { ensureVenv } from '../../src/python/venv';

/**
 * The ODCS peers' own tools, as they are, from PyPI: `datacontract-cli` (with its Kafka extra:
 * confluent-kafka and DuckDB, no Spark) and the `open-data-contract-standard` pydantic model, in
 * a venv cached under ~/.cache/meshloop (made once: about 25 s with pip's cache, 6 min cold).
 */
export const ODCS_TOOLS = ['datacontract-cli[kafka]==1.2.8', 'open-data-contract-standard==3.2.0'] as const;

export function odcsTools(cacheDir: string): Promise<PythonTools> {
  return ensureVenv({
    cacheDir,
    name: 'odcs-tools',
    requirements: ODCS_TOOLS,
    progress: (message) => process.stderr.write(`      [odcs-tools] ${message}\n`),
  });
}

type Run = { code: number; output: string };

function run(python: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(python, [...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code: code ?? -1, output }));
  });
}

export type DatacontractRun = {
  code: number;
  output: string;
  result: string;
  checks: Array<{
    type: string;
    name: string;
    result: string;
    reason?: string | null;
    field?: string | null;
  }>;
};

/** `datacontract <command> <file> ...` (its CLI, run by its own entry point), with its JSON report. */
export async function datacontract(
  tools: PythonTools,
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
): Promise<DatacontractRun> {
  const report = path.join(os.tmpdir(), `datacontract-${randomUUID()}.json`);
  try {
    const { code, output } = await run(
      tools.python,
      [
        '-c',
        'import sys; sys.argv[0] = "datacontract"; from datacontract.cli import main; main()',
        ...args,
        '--output',
        report,
        '--output-format',
        'json',
      ],
      { NO_COLOR: '1', COLUMNS: '200', ...env },
    );
    const json = JSON.parse(await readFile(report, 'utf8').catch(() => '{}')) as Partial<DatacontractRun>;
    return { code, output, result: json.result ?? 'none', checks: json.checks ?? [] };
  } finally {
    await rm(report, { force: true });
  }
}

/** Load a contract file with the `open-data-contract-standard` model; answers its id, version and property count. */
export async function loadWithOdcsModel(
  tools: PythonTools,
  file: string,
): Promise<{ code: number; output: string }> {
  return run(tools.python, [
    '-c',
    [
      'import sys',
      'from open_data_contract_standard.model import OpenDataContractStandard',
      'c = OpenDataContractStandard.from_file(sys.argv[1])',
      'print(c.apiVersion, c.id, c.version, len(c.schema_[0].properties))',
    ].join('\n'),
    file,
  ]);
}
