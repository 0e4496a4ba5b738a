import type { InputBinding } from '../domain/creation';
import { inputAliasOf } from '../domain/creation';
import { InvalidSpecError } from '../domain/errors';
import type { ProductSpec } from '../domain/spec';

/**
 * The inputs of a product as its job reads them. A topic input declares its columns in the spec; a
 * product input reads that product's output topic with that product's schema (looked up, e.g. in
 * the catalog). Problems are collected so one error names them all.
 *
 * (A small resolver kept by the deployment side; the SQL guard has its own, `inputBindingsOf`.)
 */
export type UpstreamProductLookup = (productId: string) => Promise<ProductSpec | undefined>;

export async function resolveInputBindings(
  spec: Pick<ProductSpec, 'inputs'>,
  lookupProduct: UpstreamProductLookup,
): Promise<InputBinding[]> {
  const problems: string[] = [];
  const bindings: InputBinding[] = [];
  for (const [i, input] of spec.inputs.entries()) {
    const alias = inputAliasOf(input);
    if ('topic' in input) {
      if (!input.schema) {
        problems.push(`inputs.${i} (${input.topic}): declares no schema, so its columns are unknown`);
        continue;
      }
      bindings.push({
        alias,
        topic: input.topic,
        fields: input.schema.fields.map((field) => ({ name: field.name, type: field.type })),
        ...(input.schema.eventTimeField ? { eventTimeField: input.schema.eventTimeField } : {}),
      });
      continue;
    }
    const upstream = await lookupProduct(input.product);
    if (!upstream) {
      problems.push(`inputs.${i}: product ${input.product} is not in the catalog`);
      continue;
    }
    bindings.push({
      alias,
      topic: upstream.outputTopic.name,
      productId: input.product,
      fields: upstream.schema.fields.map((field) => ({ name: field.name, type: field.type })),
      ...(upstream.schema.eventTimeField ? { eventTimeField: upstream.schema.eventTimeField } : {}),
    });
  }
  if (problems.length > 0) throw new InvalidSpecError('the product inputs cannot be read', problems);
  return bindings;
}
