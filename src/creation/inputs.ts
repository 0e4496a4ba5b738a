import type { InputBinding } from '../domain/creation';
import { duplicateAliases, inputAliasOf } from '../domain/creation';
import type { ProductSpec } from '../domain/spec';

/** What a product input needs of the product it reads (from the catalog: `CatalogView.specOf`). */
export type UpstreamProduct = Pick<ProductSpec, 'schema' | 'outputTopic'>;

/**
 * The inputs of a spec as its SQL sees them: one binding per input, named by its alias. A topic
 * input brings its declared columns; a product input reads that product's topic, with that
 * product's schema (found with `lookupProduct`, e.g. in the catalog). Pure: every problem is a
 * sentence, nothing throws.
 */
export function inputBindingsOf(
  spec: Pick<ProductSpec, 'inputs'>,
  lookupProduct: (productId: string) => UpstreamProduct | undefined,
): { bindings: InputBinding[]; problems: string[] } {
  const bindings: InputBinding[] = [];
  const problems: string[] = [];
  if (spec.inputs.length === 0) problems.push('inputs: a product reads at least one input (none declared)');
  spec.inputs.forEach((input, i) => {
    const alias = inputAliasOf(input);
    if ('topic' in input) {
      if (!input.schema) {
        problems.push(
          `inputs[${i}] (topic ${input.topic}): declare schema.fields (name and type of each field the SQL reads) and its eventTimeField`,
        );
        return;
      }
      const { fields, eventTimeField } = input.schema;
      if (eventTimeField !== undefined && !fields.some((field) => field.name === eventTimeField)) {
        problems.push(
          `inputs[${i}] (topic ${input.topic}): eventTimeField '${eventTimeField}' is not in schema.fields`,
        );
      }
      bindings.push({
        alias,
        topic: input.topic,
        fields: fields.map((field) => ({ name: field.name, type: field.type })),
        ...(eventTimeField !== undefined ? { eventTimeField } : {}),
        ...(input.format === 'avro' ? { format: 'avro' as const } : {}),
      });
      return;
    }
    const upstream = lookupProduct(input.product);
    if (!upstream) {
      problems.push(
        `inputs[${i}]: product '${input.product}' is not in the catalog (approve it first, or check the name)`,
      );
      return;
    }
    bindings.push({
      alias,
      topic: upstream.outputTopic.name,
      productId: input.product,
      fields: upstream.schema.fields.map((field) => ({ name: field.name, type: field.type })),
      ...(upstream.schema.eventTimeField !== undefined
        ? { eventTimeField: upstream.schema.eventTimeField }
        : {}),
    });
  });
  for (const alias of duplicateAliases(spec)) {
    problems.push(`inputs: two inputs are both named '${alias}' in SQL: give each its own \`as\``);
  }
  return { bindings, problems };
}
