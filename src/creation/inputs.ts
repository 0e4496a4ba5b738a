import type { CatalogDescriptor } from '../domain/catalog';
import type { InputBinding } from '../domain/creation';
import { duplicateAliases, inputAliasOf } from '../domain/creation';
import type { ProductSpec } from '../domain/spec';

/**
 * What a product input needs of the product it reads (from the catalog: `upstreamFromCatalog`):
 * its topic, its schema and how it classifies its fields (personal data stays personal downstream).
 */
export type UpstreamProduct = Pick<ProductSpec, 'schema' | 'outputTopic'> &
  Partial<Pick<ProductSpec, 'classification'>>;
/** A product that exists but may not be read (not approved, not live): why, as a sentence. */
export type UpstreamRefusal = Readonly<{ refused: string }>;
export type UpstreamLookup = (productId: string) => UpstreamProduct | UpstreamRefusal | undefined;

/** Stages whose product's topic holds what its approved spec says: the only ones an input may read. */
export const readableStages: readonly string[] = ['active', 'deprecated'];

/**
 * A catalog record as a product input: only a product that is active or deprecated, whose
 * current spec revision carries the approval that moved it to provisioning (the same decision
 * its own lifecycle required). A proposal, a product awaiting approval or changes, a pending
 * amendment (the stage is back to proposed), a failed, rejected, expired or retired product is
 * refused with the reason.
 */
export function upstreamFromCatalog(
  descriptor: Pick<CatalogDescriptor, 'productId' | 'stage' | 'spec' | 'decisions'> | undefined,
): UpstreamProduct | UpstreamRefusal | undefined {
  if (!descriptor) return undefined;
  if (!readableStages.includes(descriptor.stage)) {
    return {
      refused: `is ${descriptor.stage}: a product input reads only an active or deprecated product (one whose spec was approved and deployed)`,
    };
  }
  const revision = Math.max(0, ...descriptor.decisions.map((decision) => decision.revision));
  const approved = descriptor.decisions.some(
    (decision) =>
      decision.action === 'approve' && decision.stage === 'provisioning' && decision.revision === revision,
  );
  if (!approved) {
    return {
      refused: `has no approval of its current spec (revision ${revision}) in the catalog: it cannot be read until it is approved`,
    };
  }
  return descriptor.spec;
}

/** Personal data in an upstream product's field: `masked` when its topic holds it masked. */
function upstreamPersonal(upstream: UpstreamProduct, field: string): 'raw' | 'masked' | undefined {
  const mask = upstream.classification?.masking.find((m) => m.field === field);
  if (mask && mask.strategy !== 'none') return 'masked';
  const pii = upstream.schema.fields.find((f) => f.name === field)?.pii === true;
  return pii || mask ? 'raw' : undefined;
}

/**
 * The inputs of a spec as its SQL sees them: one binding per input, named by its alias. A topic
 * input brings its declared columns; a product input reads that product's topic, with that
 * product's schema (found with `lookupProduct`: `upstreamFromCatalog` over the catalog), and
 * its personal fields stay personal here. Pure: every problem is a
 * sentence, nothing throws.
 */
export function inputBindingsOf(
  spec: Pick<ProductSpec, 'inputs'>,
  lookupProduct: UpstreamLookup,
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
        fields: fields.map((field) => ({
          name: field.name,
          type: field.type,
          ...(field.pii === true ? { personal: 'raw' as const } : {}),
        })),
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
    if ('refused' in upstream) {
      problems.push(`inputs[${i}]: product '${input.product}' ${upstream.refused}`);
      return;
    }
    bindings.push({
      alias,
      topic: upstream.outputTopic.name,
      productId: input.product,
      fields: upstream.schema.fields.map((field) => {
        const personal = upstreamPersonal(upstream, field.name);
        return { name: field.name, type: field.type, ...(personal ? { personal } : {}) };
      }),
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
