import { writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { contractOf, contractYaml } from '../src/contracts/odcs';
import { specOfContract } from '../src/contracts/odcs-import';
import { parseSpec } from '../src/domain/spec';
import { contractSpecs } from '../test/helpers/contract-specs';
import assert from 'node:assert/strict';
for (const [name, raw] of Object.entries(contractSpecs)) {
  const spec = parseSpec(raw);
  const c = contractOf({ spec, stage: 'active', revision: 2, productId: `${spec.domain}.${spec.name}`, proposedAt: '2026-12-05T10:00:00.000Z',
    decisions: [{ by: 'bob', action: 'approve', at: '2026-12-05T10:05:00.000Z', revision: 2, stage: 'provisioning', via: 'cli' }],
    lineage: [{ column: 'order_id', from: [{ input: 'o', field: 'order_id' }] }] as never },
    { kafkaBootstrap: '127.0.0.1:29092', icebergCatalogUrl: 'http://user:pw@127.0.0.1:28181/?token=x', icebergCatalog: 'meshloop' });
  writeFileSync(`/tmp/h4/${name}.odcs.yaml`, contractYaml(c));
  const back = specOfContract(JSON.parse(JSON.stringify(c)));
  assert.deepEqual(back, spec, name);
}
console.log('ok');
