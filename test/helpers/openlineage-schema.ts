import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { ValidateFunction } from 'ajv/dist/2020';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { downloadWheels, runPython, unpackWheel } from '../../src/python/wheels';

/**
 * The OpenLineage run-event schema from the `openlineage-python` wheel on PyPI, and an ajv
 * validator for it. The wheel carries no .json schema files, only the models generated from the
 * spec's schemas (one attrs class per schema $def, each naming its schema URL):
 * openlineage_models_schema.py turns those models back into one JSON Schema document (every facet
 * the run event references; each facet validated by its key). Downloaded once into the cache.
 */
export const OPENLINEAGE_PYTHON_VERSION = '1.54.0';
/** The models' one dependency, for importing them without installing anything. */
const ATTRS_VERSION = '26.1.0';

export type OpenLineageSchema = Readonly<{
  document: Readonly<{ $defs: Record<string, { description?: string }> }>;
  validate: ValidateFunction;
  /** Facet keys the schema validates by their own facet schema, by where they sit. */
  facetKeys: Readonly<Record<string, readonly string[]>>;
}>;

export async function openLineageSchema(cacheDir: string, python = 'python3'): Promise<OpenLineageSchema> {
  const dir = path.join(cacheDir, `openlineage-python-${OPENLINEAGE_PYTHON_VERSION}`);
  const schemaFile = path.join(dir, 'run-event.schema.json');
  const keysFile = path.join(dir, 'facet-keys.json');
  if (!fs.existsSync(keysFile)) {
    const wheels = path.join(dir, 'wheels');
    const models = path.join(dir, 'models');
    await fsp.rm(dir, { recursive: true, force: true });
    await fsp.mkdir(wheels, { recursive: true });
    await downloadWheels(python, {
      platform: 'any',
      dir: wheels,
      requirements: [`openlineage-python==${OPENLINEAGE_PYTHON_VERSION}`, `attrs==${ATTRS_VERSION}`],
      cwd: dir,
    });
    for (const wheel of await fsp.readdir(wheels)) {
      await unpackWheel(python, path.join(wheels, wheel), models, dir);
    }
    const script = path.join(__dirname, 'openlineage_models_schema.py');
    const output = await runPython(python, [script, models, schemaFile], dir);
    const summary = JSON.parse(output.trim().split('\n').pop() ?? '{}') as { facetKeys: unknown };
    await fsp.writeFile(keysFile, JSON.stringify(summary.facetKeys));
  }
  const document = JSON.parse(await fsp.readFile(schemaFile, 'utf8')) as OpenLineageSchema['document'];
  const ajv = new Ajv2020({ allErrors: true, strict: false });
  addFormats(ajv);
  return {
    document,
    validate: ajv.compile(document),
    facetKeys: JSON.parse(await fsp.readFile(keysFile, 'utf8')) as OpenLineageSchema['facetKeys'],
  };
}

/** Every way the event breaks the schema, one line each; empty when it is valid. */
export function schemaProblems(schema: OpenLineageSchema, event: unknown): string[] {
  if (schema.validate(event)) return [];
  return (schema.validate.errors ?? []).map(
    (e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`,
  );
}

/**
 * Facet keys an event uses that the schema validates only as "some facet": the test refuses them,
 * so every facet Meshloop emits is checked against its own schema.
 */
export function unvalidatedFacets(schema: OpenLineageSchema, event: Record<string, unknown>): string[] {
  const keys = schema.facetKeys;
  const unknown: string[] = [];
  const check = (facets: unknown, allowed: readonly string[] | undefined, where: string) => {
    for (const key of Object.keys((facets as Record<string, unknown> | undefined) ?? {})) {
      if (!allowed?.includes(key)) unknown.push(`${where}.${key}`);
    }
  };
  const run = event.run as { facets?: unknown };
  const job = event.job as { facets?: unknown };
  check(run.facets, keys.RunFacet, 'run.facets');
  check(job.facets, keys.JobFacet, 'job.facets');
  for (const input of (event.inputs as Array<Record<string, unknown>>) ?? []) {
    check(input.facets, keys.DatasetFacet, 'inputs[].facets');
    check(input.inputFacets, keys.InputDatasetFacet, 'inputs[].inputFacets');
  }
  for (const output of (event.outputs as Array<Record<string, unknown>>) ?? []) {
    check(output.facets, keys.DatasetFacet, 'outputs[].facets');
    check(output.outputFacets, keys.OutputDatasetFacet, 'outputs[].outputFacets');
  }
  return unknown;
}
