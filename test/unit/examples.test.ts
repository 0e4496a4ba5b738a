import assert from 'node:assert/strict';
import path from 'node:path';
import { tablesReadBy } from '../../src/analysis/analyst';
import { inputAliasOf } from '../../src/domain/creation';
import { checkPolicies } from '../../src/domain/policies';
import { productIdOf } from '../../src/domain/spec';
import { loadMeshConfig } from '../../src/specs/load';
import { exampleSpecs, repositoryRoot } from '../helpers/examples';

describe('the example specs', () => {
  it('parse, pass every policy of the repository mesh and carry SQL over their declared inputs', async () => {
    const mesh = await loadMeshConfig(path.join(repositoryRoot, 'mesh.yaml'));
    const examples = await exampleSpecs();
    assert.ok(examples.length >= 2, examples.map((e) => e.file).join(', '));
    for (const { file, spec } of examples) {
      assert.deepEqual(checkPolicies(spec, { knownDomains: Object.keys(mesh.domains) }), [], file);
      assert.ok(spec.sql, `${file}: no sql`);
      const aliases = spec.inputs.map(inputAliasOf);
      for (const table of tablesReadBy(spec.sql))
        assert.ok(aliases.includes(table), `${file} reads ${table}`);
      for (const input of spec.inputs) {
        if ('topic' in input) assert.ok(input.schema, `${file}: ${input.topic} declares no schema`);
      }
      assert.ok(productIdOf(spec).startsWith(`${spec.domain}.`));
    }
  });
});
