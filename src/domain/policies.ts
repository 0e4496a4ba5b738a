import type { ProductSpec } from './spec';
import { productIdOf } from './spec';

/**
 * Federated governance as code: checks every product must pass before anyone is asked to approve
 * it (and again on each amendment). Each check returns violations as `path: what is wrong`.
 */

export type PolicyContext = Readonly<{
  /** Domains named in mesh.yaml; when given, the product's domain must be one of them. */
  knownDomains?: readonly string[];
}>;

type Policy = (spec: ProductSpec, context: PolicyContext) => string[];

const lowerKebabOrSnake = /^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$/;
// Field names end up as Flink SQL and Iceberg columns: keep them plain identifiers.
const columnName = /^[A-Za-z_][A-Za-z0-9_]*$/;
const productReference = /^[a-z][a-z0-9_-]*\.[a-z][a-z0-9_-]*$/;

/** Field names that almost always hold personal data; such a field must be marked `pii: true`. */
const likelyPii =
  /(^|_)(e_?mail|phone|mobile|ssn|social_security|passport|iban|card_number|credit_card|first_name|last_name|full_name|surname|date_of_birth|birth_?date|dob|street|address|postcode|zip_?code|ip_address|ip)($|_)/i;

export const namingPolicy: Policy = (spec) => {
  const violations: string[] = [];
  if (!lowerKebabOrSnake.test(spec.name)) {
    violations.push(`name: '${spec.name}' must be lowercase kebab-case or snake_case (e.g. daily_revenue)`);
  }
  if (!lowerKebabOrSnake.test(spec.domain)) {
    violations.push(`domain: '${spec.domain}' must be lowercase kebab-case or snake_case`);
  }
  spec.schema.fields.forEach((field, i) => {
    if (!columnName.test(field.name)) {
      violations.push(
        `schema.fields[${i}].name: '${field.name}' must be a plain identifier (letters, digits, _)`,
      );
    }
  });
  spec.tags.forEach((tag, i) => {
    if (!lowerKebabOrSnake.test(tag))
      violations.push(`tags[${i}]: '${tag}' must be lowercase kebab-case or snake_case`);
  });
  return violations;
};

export const topicNamingPolicy: Policy = (spec) => {
  const prefix = `${spec.domain}.`;
  const name = spec.outputTopic.name;
  const violations: string[] = [];
  if (!name.startsWith(prefix) || name.length === prefix.length) {
    violations.push(`outputTopic.name: '${name}' must start with the domain, '${prefix}<name>'`);
  }
  if (!/^[a-zA-Z0-9._-]{1,249}$/.test(name)) {
    violations.push(`outputTopic.name: '${name}' is not a valid Kafka topic name (letters, digits, . _ -)`);
  }
  return violations;
};

export const requiredMetadataPolicy: Policy = (spec, context) => {
  const violations: string[] = [];
  if (spec.description.length < 10) {
    violations.push('description: say what the product holds and who it is for (at least 10 characters)');
  }
  if (context.knownDomains && !context.knownDomains.includes(spec.domain)) {
    violations.push(
      `domain: '${spec.domain}' is not in mesh.yaml (known: ${[...context.knownDomains].sort().join(', ')})`,
    );
  }
  if (spec.kind !== 'source-aligned' && spec.inputs.length === 0) {
    violations.push(`inputs: an ${spec.kind} product must name what it is derived from`);
  }
  spec.inputs.forEach((input, i) => {
    if ('product' in input) {
      if (!productReference.test(input.product)) {
        violations.push(`inputs[${i}].product: '${input.product}' must be a product id '<domain>.<name>'`);
      } else if (input.product === productIdOf(spec)) {
        violations.push(`inputs[${i}].product: a product cannot read itself`);
      }
    }
  });
  const proposal = spec.proposal;
  if (proposal?.proposedBy.kind === 'agent') {
    // An agent's proposal must show its work so a person can judge it.
    if (proposal.reasoning.trim() === '')
      violations.push('proposal.reasoning: an agent proposal must explain why');
    if (proposal.evidence.length === 0)
      violations.push('proposal.evidence: an agent proposal must cite evidence');
    if (proposal.confidence === undefined)
      violations.push('proposal.confidence: an agent proposal must state it');
  }
  return violations;
};

export const piiPolicy: Policy = (spec) => {
  const violations: string[] = [];
  const piiFields = spec.schema.fields.filter((field) => field.pii).map((field) => field.name);
  spec.schema.fields.forEach((field, i) => {
    if (!field.pii && likelyPii.test(field.name)) {
      violations.push(
        `schema.fields[${i}]: '${field.name}' looks like personal data; mark it pii: true (and say how it is masked)`,
      );
    }
  });
  if (piiFields.length > 0 && !spec.classification.pii) {
    violations.push(
      `classification.pii: must be true, the schema marks ${piiFields.join(', ')} as personal data`,
    );
  }
  if (spec.classification.pii && piiFields.length === 0) {
    violations.push('classification.pii: is true but no field is marked pii: true');
  }
  if (piiFields.length > 0 && ['public', 'internal'].includes(spec.classification.level)) {
    violations.push(
      `classification.level: a product with personal data must be confidential or restricted, not ${spec.classification.level}`,
    );
  }
  const masked = new Set(spec.classification.masking.map((mask) => mask.field));
  for (const field of piiFields) {
    if (!masked.has(field))
      violations.push(`classification.masking: say how personal field '${field}' is masked`);
  }
  return violations;
};

export const policies: Readonly<Record<string, Policy>> = {
  naming: namingPolicy,
  topicNaming: topicNamingPolicy,
  requiredMetadata: requiredMetadataPolicy,
  pii: piiPolicy,
};

/** Every violation of every policy; empty when the product may go to its approvers. */
export function checkPolicies(spec: ProductSpec, context: PolicyContext = {}): string[] {
  return Object.values(policies).flatMap((policy) => policy(spec, context));
}
