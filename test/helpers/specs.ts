import type { ProductSpec, ProductSpecInput } from '../../src/domain/spec';
import { parseSpec } from '../../src/domain/spec';

/** A small valid aggregate spec as a plain object; override parts to make it wrong. */
export function rawSpec(overrides: Record<string, unknown> = {}): ProductSpecInput {
  return {
    name: 'daily_revenue',
    domain: 'orders',
    owner: 'alice',
    description: 'Revenue per channel per day.',
    kind: 'aggregate',
    inputs: [{ topic: 'orders.placed' }],
    schema: {
      fields: [
        { name: 'day', type: 'date' },
        { name: 'revenue', type: 'decimal' },
      ],
      key: ['day'],
    },
    ...overrides,
  };
}

/** The same spec validated, with defaults filled in. */
export function validSpec(overrides: Record<string, unknown> = {}): ProductSpec {
  return parseSpec(rawSpec(overrides));
}
