import assert from 'node:assert/strict';
import { checkPolicies } from '../../src/domain/policies';
import { validSpec } from '../helpers/specs';

const piiSchema = {
  fields: [
    { name: 'customer_id', type: 'string' },
    { name: 'email', type: 'string', pii: true },
  ],
  key: ['customer_id'],
};

describe('governance policies', () => {
  it('passes a well-formed product', () => {
    assert.deepEqual(checkPolicies(validSpec(), { knownDomains: ['orders'] }), []);
  });

  it('requires lowercase kebab or snake names', () => {
    assert.deepEqual(checkPolicies(validSpec({ name: 'DailyRevenue', tags: ['Finance'] })), [
      "name: 'DailyRevenue' must be lowercase kebab-case or snake_case (e.g. daily_revenue)",
      "tags[0]: 'Finance' must be lowercase kebab-case or snake_case",
    ]);
    assert.deepEqual(checkPolicies(validSpec({ name: 'daily-revenue' })), []);
  });

  it('requires plain identifiers for field names', () => {
    const spec = validSpec({ schema: { fields: [{ name: 'revenue-eur', type: 'decimal' }] } });
    assert.deepEqual(checkPolicies(spec), [
      "schema.fields[0].name: 'revenue-eur' must be a plain identifier (letters, digits, _)",
    ]);
  });

  it("requires the output topic to start with the product's domain", () => {
    assert.deepEqual(checkPolicies(validSpec({ outputTopic: { name: 'payments.daily_revenue' } })), [
      "outputTopic.name: 'payments.daily_revenue' must start with the domain, 'orders.<name>'",
    ]);
    assert.deepEqual(checkPolicies(validSpec({ outputTopic: { name: 'orders.revenue_v2' } })), []);
  });

  it('requires a description, a known domain and inputs for derived products', () => {
    assert.deepEqual(
      checkPolicies(validSpec({ description: '', inputs: [] }), { knownDomains: ['web', 'payments'] }),
      [
        'description: say what the product holds and who it is for (at least 10 characters)',
        "domain: 'orders' is not in mesh.yaml (known: payments, web)",
        'inputs: an aggregate product must name what it is derived from',
      ],
    );
    assert.deepEqual(checkPolicies(validSpec({ kind: 'source-aligned', inputs: [] })), []);
  });

  it('requires product inputs to be product ids, not the product itself', () => {
    assert.deepEqual(
      checkPolicies(validSpec({ inputs: [{ product: 'payments' }, { product: 'orders.daily_revenue' }] })),
      [
        "inputs[0].product: 'payments' must be a product id '<domain>.<name>'",
        'inputs[1].product: a product cannot read itself',
      ],
    );
  });

  it("requires an agent's proposal to carry reasoning, evidence and confidence", () => {
    const spec = validSpec({ proposal: { proposedBy: { kind: 'agent', name: 'discovery' } } });
    assert.deepEqual(checkPolicies(spec), [
      'proposal.reasoning: an agent proposal must explain why',
      'proposal.evidence: an agent proposal must cite evidence',
      'proposal.confidence: an agent proposal must state it',
    ]);
    const person = validSpec({ proposal: { proposedBy: { kind: 'person', name: 'alice' } } });
    assert.deepEqual(checkPolicies(person), []);
  });

  it('flags fields that look personal but are not marked', () => {
    const spec = validSpec({
      schema: {
        fields: [
          { name: 'customer_email', type: 'string' },
          { name: 'phone', type: 'string' },
          { name: 'shipping', type: 'string' },
        ],
      },
    });
    assert.deepEqual(checkPolicies(spec), [
      "schema.fields[0]: 'customer_email' looks like personal data; mark it pii: true (and say how it is masked)",
      "schema.fields[1]: 'phone' looks like personal data; mark it pii: true (and say how it is masked)",
    ]);
  });

  it('requires personal data to be classified, confidential and masked', () => {
    assert.deepEqual(checkPolicies(validSpec({ schema: piiSchema })), [
      'classification.pii: must be true, the schema marks email as personal data',
      'classification.level: a product with personal data must be confidential or restricted, not internal',
      "classification.masking: say how personal field 'email' is masked",
    ]);
    const classified = validSpec({
      schema: piiSchema,
      classification: { pii: true, level: 'confidential', masking: [{ field: 'email', strategy: 'hash' }] },
    });
    assert.deepEqual(checkPolicies(classified), []);
  });

  it('refuses a PII classification with no personal field marked', () => {
    assert.deepEqual(checkPolicies(validSpec({ classification: { pii: true, level: 'restricted' } })), [
      'classification.pii: is true but no field is marked pii: true',
    ]);
  });
});
