import type { SchemaInfo } from '@confluentinc/schemaregistry';
import { SubjectRegistry } from '../src/adapters/schema-registry/subjects';
import type { SchemaRegistryConfig } from '../src/config';
import { outputSchemaText, outputSubjectOf } from '../src/creation/output-schema';
import type { OutputSchemaCheck, OutputSchemaRef, ProductJobInput } from '../src/domain/creation';
import { InvalidSpecError } from '../src/domain/errors';
import { productIdOf } from '../src/domain/spec';
import type { Logger } from '../src/log';

/**
 * A product's output schema in the Schema Registry: a JSON Schema generated from the spec
 * (src/creation/output-schema.ts), under `<output topic>-value` with BACKWARD compatibility.
 * Registered when the product is provisioned; tested before an amendment (any revision) goes to
 * its approvers. The workflow keeps only the subject, version and id. Without a registry
 * configured there is nothing to register or test.
 */
export function createSchemaRegistryActivities(deps: {
  schemaRegistry?: SchemaRegistryConfig;
  log: Logger;
  /** Per request: two tries (the client retries once) fit in a provisioning step's 30 s. */
  timeoutMs?: number;
}) {
  const timeoutMs = deps.timeoutMs ?? 10_000;
  const log = deps.log.child('schema-registry');
  const schemaOf = (input: ProductJobInput): { subject: string; info: SchemaInfo } => {
    if (productIdOf(input.spec) !== input.productId) {
      throw new InvalidSpecError('output schema input', [
        `spec is for ${productIdOf(input.spec)}, not ${input.productId}`,
      ]);
    }
    return {
      subject: outputSubjectOf(input.spec),
      info: { schemaType: 'JSON', schema: outputSchemaText(input.spec) },
    };
  };

  return {
    /** Register the revision's output schema (found when there already) and keep its subject BACKWARD. */
    async registerOutputSchema(input: ProductJobInput): Promise<OutputSchemaRef | undefined> {
      if (!deps.schemaRegistry) return undefined;
      const { subject, info } = schemaOf(input);
      const registry = await SubjectRegistry.create(deps.schemaRegistry, timeoutMs);
      const done = await registry.register(subject, info, 'BACKWARD');
      log.info(done.registered ? 'output schema registered' : 'output schema already registered', {
        productId: input.productId,
        revision: input.revision,
        subject,
        version: done.version,
        schemaId: done.id,
        compatibility: done.compatibility,
      });
      return {
        subject,
        id: done.id,
        version: done.version,
        compatibility: done.compatibility,
        revision: input.revision,
        registered: done.registered,
      };
    },

    /** Would the registry take the revision's output schema as its subject's next version? */
    async checkOutputSchemaCompatibility(input: ProductJobInput): Promise<OutputSchemaCheck> {
      const { subject, info } = schemaOf(input);
      if (!deps.schemaRegistry) return { compatible: true, subject };
      const registry = await SubjectRegistry.create(deps.schemaRegistry, timeoutMs);
      const verdict = await registry.check(subject, info);
      log.info(verdict.compatible ? 'output schema compatible' : 'output schema refused by the registry', {
        productId: input.productId,
        revision: input.revision,
        subject,
        ...(verdict.compatible ? {} : { against: verdict.against, reasons: verdict.reasons }),
      });
      return verdict.compatible
        ? {
            compatible: true,
            subject,
            ...(verdict.against !== undefined ? { against: verdict.against } : {}),
          }
        : {
            compatible: false,
            subject,
            compatibility: verdict.compatibility,
            against: verdict.against,
            reasons: verdict.reasons.slice(0, 10).map((reason) => reason.slice(0, 500)),
          };
    },
  };
}
