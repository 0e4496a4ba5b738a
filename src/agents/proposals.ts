import { createHash } from 'node:crypto';
import type { DomainConfig, MeshConfig } from '../domain/mesh-config';
import { checkPolicies } from '../domain/policies';
import type { ProductSpec, ProductSpecInput } from '../domain/spec';
import { parseSpec } from '../domain/spec';
import type { PiiKind } from '../profile/pii';
import { piiKindOfName } from '../profile/pii';
import type { FieldProfile } from '../profile/types';
import { ownValue } from '../domain/records';
import type { Draft, ProfileIndex } from './drafts';
import type { ColumnMask } from './product-sql';
import { planInputs, planSql } from './product-sql';

export { specTypeOf } from './product-sql';
// Drafts are what both agents and the SQL planner share (a module of their own: no import circle).
export type { Draft, DraftField, ProfileIndex, SourceField } from './drafts';
export { indexProfiles } from './drafts';

/**
 * What discovery agents (the planner and the LLM) hand over: a validated spec, its content-hash
 * id, and how it came about. Pure helpers shared by both agents.
 */
export type DiscoveryProposal = Readonly<{
  /** sha256 of the idea (kind, domain, inputs, fields, key, event time, masking): never proposed twice. */
  proposalId: string;
  spec: ProductSpec;
  origin: 'planner' | 'llm';
}>;

/** A proposal that was not made, and why: kept in the discovery report. */
export type DroppedProposal = Readonly<{ name: string; origin: 'planner' | 'llm'; reasons: string[] }>;

/** `orders.orders` → domain `orders`, entity `orders`; `web.clicks` → `web`, `clicks`. */
export function topicParts(topic: string): { domain: string; entity: string } {
  const dot = topic.indexOf('.');
  const domain = dot > 0 ? topic.slice(0, dot) : topic;
  const entity = dot > 0 ? topic.slice(dot + 1) : topic;
  return { domain: snake(domain), entity: snake(entity) };
}

/** A plain lowercase identifier (product names, column names). */
export function snake(text: string): string {
  const cleaned = text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
  return /^[a-z]/.test(cleaned) ? cleaned : `f_${cleaned || 'field'}`;
}

/** A profiled field's name as a product column: `address.city` → `address_city`. */
export const columnOf = (field: string) => snake(field);

/** How each kind of personal data is masked for readers outside the owning domain. */
export const maskingFor: Record<PiiKind, 'hash' | 'redact' | 'tokenize' | 'truncate'> = {
  email: 'hash',
  phone: 'redact',
  cardNumber: 'truncate',
  nationalId: 'redact',
  personName: 'tokenize',
  // The year stays (ages still compute roughly), the day does not.
  dateOfBirth: 'truncate',
  address: 'redact',
  // Hashed: still countable and joinable (visits per IP, per device), never readable.
  ipAddress: 'hash',
  deviceId: 'hash',
  freeText: 'redact',
};

// The policy's name list: a column called like this must be marked PII even when values did not say so.
const likelyPiiName =
  /(^|_)(e_?mail|phone|mobile|ssn|social_security|passport|iban|card_number|credit_card|first_name|last_name|full_name|surname|date_of_birth|birth_?date|dob|street|address|postcode|zip_?code|ip_address|ip)($|_)/i;

/** The PII kind of a source field, from its profile's signals (strongest first) or its name. */
export function piiKindOf(field: FieldProfile): PiiKind | undefined {
  const signal = field.pii[0];
  if (signal) return signal.kind;
  return likelyPiiName.test(columnOf(field.name)) ? kindOfLikelyName(field.name) : undefined;
}

/** A column named like personal data (the policy's list): the kind its name says, a person's name otherwise. */
const kindOfLikelyName = (name: string): PiiKind => piiKindOfName(name) ?? 'personName';

/**
 * The id of an idea: the same kind, inputs, fields, key and masking hash the same, whatever the
 * wording, and whatever the SQL text: the same product drafted again with other SQL (an LLM's
 * rewording, a planner change) is not proposed twice.
 */
export function proposalIdOf(spec: ProductSpec): string {
  const idea = {
    kind: spec.kind,
    domain: spec.domain,
    inputs: spec.inputs
      .map((input) => ('topic' in input ? `topic:${input.topic}` : `product:${input.product}`))
      .sort(),
    fields: spec.schema.fields.map((field) => `${field.name}:${field.type}:${field.pii ? 'pii' : ''}`).sort(),
    key: [...spec.schema.key].sort(),
    eventTime: spec.schema.eventTimeField ?? null,
    masking: spec.classification.masking.map((mask) => `${mask.field}:${mask.strategy}`).sort(),
  };
  return createHash('sha256').update(JSON.stringify(idea)).digest('hex');
}

/**
 * Check a draft against the real profiles and the mesh, then build its spec. Classification and
 * masking come from the profiles' PII signals, never from the drafter: whatever an LLM (or a
 * record that tries to instruct it) says, personal fields are marked and masked.
 * Returns the proposal, or the list of problems.
 */
export function finishProposal(
  draft: Draft,
  context: { profiles: ProfileIndex; mesh: MeshConfig; origin: 'planner' | 'llm'; agentName: string },
): { proposal: DiscoveryProposal } | { problems: string[] } {
  const problems: string[] = [];
  const domain: DomainConfig | undefined = ownValue(context.mesh.domains, draft.domain);
  if (!domain) {
    problems.push(
      `domain '${draft.domain}' is not in mesh.yaml (known: ${Object.keys(context.mesh.domains).sort().join(', ')})`,
    );
  }
  for (const topic of draft.inputs) {
    if (!context.profiles.has(topic))
      problems.push(`input topic '${topic}' was not profiled (no such topic)`);
  }
  if (draft.inputs.length === 0) problems.push('inputs: name at least one profiled topic');
  const names = new Set(draft.fields.map((f) => f.name));
  const masking: ColumnMask[] = [];
  const fields = draft.fields.map((field) => {
    let piiKind: PiiKind | undefined;
    if (field.from.length === 0)
      problems.push(`field '${field.name}': say which profiled field(s) it comes from`);
    for (const source of field.from) {
      const topic = context.profiles.get(source.topic);
      if (!topic) {
        problems.push(`field '${field.name}': source topic '${source.topic}' was not profiled`);
        continue;
      }
      if (!draft.inputs.includes(source.topic)) {
        problems.push(`field '${field.name}': source topic '${source.topic}' is not among the inputs`);
      }
      const profiled = topic.fields.get(source.field);
      if (!profiled) {
        problems.push(`field '${field.name}': '${source.topic}' has no field '${source.field}'`);
        continue;
      }
      piiKind ??= piiKindOf(profiled);
    }
    if (!piiKind && likelyPiiName.test(field.name)) piiKind = kindOfLikelyName(field.name);
    if (piiKind) masking.push({ field: field.name, strategy: maskingFor[piiKind], kind: piiKind });
    return {
      name: field.name,
      type: field.type,
      nullable: field.nullable,
      description: field.description,
      pii: piiKind !== undefined,
    };
  });
  for (const key of draft.key) if (!names.has(key)) problems.push(`key '${key}' is not an output field`);
  if (draft.eventTimeField !== undefined && !names.has(draft.eventTimeField)) {
    problems.push(`eventTimeField '${draft.eventTimeField}' is not an output field`);
  }
  if (problems.length > 0 || !domain) return { problems };

  // Every proposal carries the SQL the approver approves: the drafter's, or the planner's.
  const planned = draft.sql
    ? { plan: { inputs: planInputs(draft, context.profiles), sql: draft.sql, fields } }
    : planSql(draft, masking, context.profiles);
  if ('problems' in planned) return { problems: planned.problems.map((p) => `sql: ${p}`) };
  const typed = new Map(planned.plan.fields.map((f) => [f.name, f]));
  const pii = masking.length > 0;
  const input: ProductSpecInput = {
    name: draft.name,
    domain: draft.domain,
    owner: domain.approvers[0] ?? draft.domain,
    description: draft.description,
    kind: draft.kind,
    inputs: planned.plan.inputs,
    sql: planned.plan.sql,
    schema: {
      // Typed as the SQL yields them (a masked value is text).
      fields: fields.map((f) => ({ ...f, ...typed.get(f.name) })),
      key: [...draft.key],
      ...(draft.eventTimeField ? { eventTimeField: draft.eventTimeField } : {}),
    },
    sla: { freshness: draft.freshness ?? '1h' },
    quality: [
      ...draft.key.map((field) => ({ rule: 'notNull' as const, field })),
      ...(draft.key.length > 0 ? [{ rule: 'unique' as const, fields: [...draft.key] }] : []),
      ...(draft.eventTimeField ? [{ rule: 'notNull' as const, field: draft.eventTimeField }] : []),
    ],
    classification: pii
      ? {
          pii: true,
          level: 'confidential',
          masking: masking.map(({ field, strategy }) => ({ field, strategy })),
        }
      : { pii: false, level: 'internal', masking: [] },
    tags: ['discovered', ...(pii ? ['pii'] : [])],
    proposal: {
      proposedBy: { kind: 'agent', name: context.agentName },
      reasoning: draft.reasoning,
      evidence: draft.evidence.map((e) => ({ ...e })),
      confidence: Math.min(1, Math.max(0, draft.confidence)),
    },
  };
  let spec: ProductSpec;
  try {
    spec = parseSpec(input, `proposal ${draft.domain}.${draft.name}`);
  } catch (error) {
    const listed = (error as { problems?: string[] }).problems;
    return { problems: listed ?? [(error as Error).message] };
  }
  const violations = checkPolicies(spec, { knownDomains: Object.keys(context.mesh.domains) });
  if (violations.length > 0) return { problems: violations.map((v) => `policy: ${v}`) };
  const proposalId = proposalIdOf(spec);
  return {
    proposal: {
      proposalId,
      origin: context.origin,
      spec: { ...spec, tags: [...spec.tags, `proposal-${proposalId.slice(0, 12)}`] },
    },
  };
}
