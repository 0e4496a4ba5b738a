import { z } from 'zod';
import { parseDuration } from '../domain/duration';
import { InvalidSpecError } from '../domain/errors';
import type { FieldType, ProductSpec, ProductSpecInput, QualityRule } from '../domain/spec';
import { formatIssuePath, parseSpec } from '../domain/spec';
import {
  conditionQuery,
  customKeys,
  fieldTypeOfLogical,
  fieldTypeOfPhysical,
  MESHLOOP_VENDOR,
  QUALITY_ID_PREFIX,
} from './odcs';

/**
 * An ODCS v3.x contract read back into a product spec: ODCS's own fields first (schema, types,
 * keys, required, classification tags, quality rules, SLA properties, team, domain), Meshloop's
 * `meshloop…` custom properties for what ODCS has no field for. Every problem is reported at once,
 * each with its place in the contract, what is wrong and what to do; the spec then goes through
 * `parseSpec` like any other, its problems also named by their place in the contract.
 */

/** The largest contract read (bytes of text): a spec is at most 256 KiB, ODCS says more of it. */
export const MAX_CONTRACT_BYTES = 1024 * 1024;

const text = (max: number) => z.string().max(max, `must be at most ${max} characters`);
const list = <T extends z.ZodType>(item: T, max: number) =>
  z.array(item).max(max, `must list at most ${max} entries`);

const customPropertySchema = z.looseObject({ property: text(200), value: z.unknown() });
const customList = list(customPropertySchema, 200).optional();
const qualitySchema = z.looseObject({
  id: text(200).optional(),
  name: text(200).optional(),
  type: text(50).optional(),
  metric: text(50).optional(),
  mustBe: z.unknown().optional(),
  arguments: z.record(z.string(), z.unknown()).optional(),
  query: text(20_000).optional(),
  description: text(4000).optional(),
  customProperties: customList,
});
type Quality = z.output<typeof qualitySchema>;
const propertySchema = z.looseObject({
  name: text(200),
  logicalType: text(50).optional(),
  physicalType: text(200).optional(),
  required: z.boolean().optional(),
  unique: z.boolean().optional(),
  primaryKey: z.boolean().optional(),
  primaryKeyPosition: z.number().int().optional(),
  description: text(4000).optional(),
  classification: text(200).optional(),
  tags: list(text(200), 100).optional(),
  quality: list(qualitySchema, 200).optional(),
  customProperties: customList,
});
type Property = z.output<typeof propertySchema>;
const schemaObjectSchema = z.looseObject({
  name: text(200),
  physicalName: text(300).optional(),
  description: text(4000).optional(),
  properties: list(propertySchema, 1000).min(1, 'must list at least one property'),
  quality: list(qualitySchema, 200).optional(),
});
const slaSchema = z.looseObject({
  property: text(100),
  value: z.unknown(),
  unit: text(50).optional(),
  customProperties: customList,
});
const memberSchema = z.looseObject({ username: text(200), role: text(200).optional() });
const contractSchema = z.looseObject({
  apiVersion: z
    .string()
    .regex(
      /^v3\.\d+\.\d+$/,
      'must be an ODCS v3 version, e.g. v3.2.0 (ODCS v2 contracts: upgrade them first)',
    ),
  kind: z.literal('DataContract', { error: 'must be DataContract' }),
  id: text(300),
  name: text(200).optional(),
  domain: text(200).optional(),
  tags: list(text(200), 50).optional(),
  description: z.looseObject({ purpose: text(4000).optional() }).optional(),
  team: z
    .union([
      z.looseObject({ name: text(200).optional(), members: list(memberSchema, 500).optional() }),
      list(memberSchema, 500),
    ])
    .optional(),
  schema: list(schemaObjectSchema, 1)
    .min(1, 'must hold the product’s schema object')
    .max(1, 'must hold exactly one schema object: a Meshloop product is one topic and one table'),
  slaProperties: list(slaSchema, 100).optional(),
  customProperties: customList,
});
type Contract = z.output<typeof contractSchema>;

/** A problem with the contract: `path: what; what to do`. */
type Problems = string[];

function customValue(properties: Contract['customProperties'], key: string): unknown {
  return properties?.find((p) => p.property === key)?.value;
}
function customIndex(properties: Contract['customProperties'], key: string): number {
  return properties?.findIndex((p) => p.property === key) ?? -1;
}

function typeOf(property: Property, at: string, problems: Problems): FieldType {
  const custom = customValue(property.customProperties, customKeys.type);
  const byPhysical = property.physicalType ? fieldTypeOfPhysical(property.physicalType) : undefined;
  const byLogical = property.logicalType ? fieldTypeOfLogical(property.logicalType) : undefined;
  const type =
    (typeof custom === 'string' ? fieldTypeOfPhysical(custom) : undefined) ?? byPhysical ?? byLogical;
  if (type) return type;
  problems.push(
    `${at}: no type Meshloop knows (physicalType ${JSON.stringify(property.physicalType ?? null)}, logicalType ${JSON.stringify(property.logicalType ?? null)}); set physicalType to one of string, int, long, float, double, decimal, boolean, date, timestamp, bytes, json`,
  );
  return 'string';
}

const isZero = (value: unknown) => value === 0 || value === '0';
const ruleNameOf = (quality: Quality, at: string) =>
  (quality.name ?? at).replace(/[^A-Za-z0-9_]+/g, '_').slice(0, 200);

/** A rule Meshloop wrote: what ODCS cannot say is in its custom properties. */
function carriedRuleOf(quality: Quality, field: string | undefined, at: string): QualityRule | undefined {
  const customs = quality.customProperties;
  const freshness = customValue(customs, customKeys.freshness);
  if (typeof freshness === 'string') return { rule: 'freshness', maxDelay: freshness };
  const range = customValue(customs, customKeys.range);
  if (range && typeof range === 'object' && field) return { rule: 'range', field, ...range };
  const condition = customValue(customs, customKeys.condition);
  if (typeof condition === 'string') return { rule: 'custom', name: ruleNameOf(quality, at), sql: condition };
  return undefined;
}

/** A sql check of one row condition, as `conditionQuery` writes it. */
function sqlRuleOf(quality: Quality, at: string): QualityRule | undefined {
  const condition = customConditionOf(quality.query);
  return condition === undefined
    ? undefined
    : { rule: 'custom', name: ruleNameOf(quality, at), sql: condition };
}

/** A rule in ODCS's library metrics (or a sql check of a row condition), none allowed to fail. */
function standardRuleOf(quality: Quality, field: string | undefined, at: string): QualityRule | undefined {
  if (!isZero(quality.mustBe)) return undefined;
  if (quality.type === 'sql') return sqlRuleOf(quality, at);
  if (quality.type !== undefined && quality.type !== 'library') return undefined;
  const args = quality.arguments ?? {};
  switch (quality.metric) {
    case 'nullValues':
      return field ? { rule: 'notNull', field } : undefined;
    case 'duplicateValues': {
      const fields: unknown = field ? [field] : args.properties;
      const names = Array.isArray(fields) ? fields.filter((f): f is string => typeof f === 'string') : [];
      return names.length > 0 ? { rule: 'unique', fields: names } : undefined;
    }
    case 'invalidValues':
      return field && Array.isArray(args.validValues)
        ? { rule: 'allowedValues', field, values: args.validValues.map(String) }
        : undefined;
    default:
      return undefined;
  }
}

/** One ODCS quality rule as a Meshloop rule, or a problem. */
function ruleOf(
  quality: Quality,
  field: string | undefined,
  at: string,
  problems: Problems,
): QualityRule | undefined {
  const rule = carriedRuleOf(quality, field, at) ?? standardRuleOf(quality, field, at);
  if (rule) return rule;
  problems.push(
    `${at}: a quality rule Meshloop cannot check (${describeQuality(quality)}); use nullValues, duplicateValues or invalidValues (validValues) with mustBe: 0, or a sql rule "${conditionQuery('<condition>')}" with mustBe: 0, or remove it`,
  );
  return undefined;
}

function describeQuality(quality: Quality): string {
  return [
    `type ${quality.type ?? 'library'}`,
    ...(quality.metric ? [`metric ${quality.metric}`] : []),
    ...(quality.mustBe !== undefined ? [`mustBe ${JSON.stringify(quality.mustBe)}`] : ['no mustBe']),
  ].join(', ');
}

/** The condition of a query written as `conditionQuery` writes it, else undefined. */
export function customConditionOf(query: string | undefined): string | undefined {
  const match =
    /^\s*SELECT\s+COUNT\(\*\)\s+FROM\s+\$\{(?:object|table|model)\}\s+WHERE\s+\((.+)\)\s+IS\s+NOT\s+TRUE\s*;?\s*$/is.exec(
      query ?? '',
    );
  return match?.[1]?.trim();
}

type Built = {
  spec: ProductSpecInput;
  origins: Array<[specPath: string, contractPath: string]>;
  /** Spec paths whose problem is already said in the contract's terms (a missing domain, owner). */
  said: Set<string>;
};

type PendingRule = { rule: QualityRule; at: string; order: number };

/** Where a rule goes among the spec's rules: its `rule_<n>` id, else after those, as it comes. */
function orderOf(quality: Quality, seen: number): number {
  const match = new RegExp(`^${QUALITY_ID_PREFIX}(\\d+)$`).exec(
    typeof quality.id === 'string' ? quality.id : '',
  );
  return match ? Number(match[1]) : 1_000_000 + seen;
}

function rulesOf(object: Contract['schema'][number], problems: Problems): PendingRule[] {
  const pending: PendingRule[] = [];
  const add = (qualities: Quality[] | undefined, field: string | undefined, at: string) =>
    (qualities ?? []).forEach((quality, j) => {
      const rule = ruleOf(quality, field, `${at}.quality[${j}]`, problems);
      if (rule) pending.push({ rule, at: `${at}.quality[${j}]`, order: orderOf(quality, pending.length) });
    });
  object.properties.forEach((property, i) => {
    const at = `schema[0].properties[${i}]`;
    add(property.quality, property.name, at);
    const unique = (r: PendingRule) => r.rule.rule === 'unique' && r.rule.fields.join() === property.name;
    if (property.unique && !pending.some(unique))
      pending.push({
        rule: { rule: 'unique', fields: [property.name] },
        at: `${at}.unique`,
        order: 1_000_000 + pending.length,
      });
  });
  add(object.quality, undefined, 'schema[0]');
  return pending.sort((a, b) => a.order - b.order);
}

const isPiiTag = (tag: string) => tag.toLowerCase() === 'pii' || tag.toLowerCase().startsWith('pii:');

function fieldsOf(contract: Contract, problems: Problems, built: Built) {
  const object = contract.schema[0]!;
  const keyed: Array<{ name: string; position: number }> = [];
  const masking: Array<{ field: string; strategy: string }> = [];
  const fields = object.properties.map((property, i) => {
    const at = `schema[0].properties[${i}]`;
    built.origins.push([`schema.fields[${i}]`, at]);
    const type = typeOf(property, at, problems);
    if (property.primaryKey)
      keyed.push({ name: property.name, position: property.primaryKeyPosition ?? i + 1 });
    const mask = customValue(property.customProperties, customKeys.masking);
    if (typeof mask === 'string') {
      built.origins.push([`classification.masking[${masking.length}]`, `${at}.customProperties`]);
      masking.push({ field: property.name, strategy: mask });
    }
    const pii = property.tags?.some(isPiiTag) ?? false;
    return {
      name: property.name,
      type,
      nullable: !(property.required ?? false),
      ...(property.description ? { description: property.description } : {}),
      ...(pii ? { pii } : {}),
    };
  });
  const quality = rulesOf(object, problems).map((pending, n) => {
    built.origins.push([`quality[${n}]`, pending.at]);
    return pending.rule;
  });
  const key = keyed.sort((a, b) => a.position - b.position).map((k) => k.name);
  return { fields, key, quality, masking };
}

/** A duration's text from an SLA property: its Meshloop text, else value and unit. */
function slaDurationText(sla: NonNullable<Contract['slaProperties']>[number]): string | undefined {
  const carried = customValue(sla.customProperties, customKeys.duration);
  if (typeof carried === 'string') return carried;
  const units: Record<string, string> = {
    d: 'd',
    day: 'd',
    days: 'd',
    h: 'h',
    hour: 'h',
    hours: 'h',
    m: 'm',
    min: 'm',
    minutes: 'm',
    s: 's',
    seconds: 's',
  };
  const unit = units[(sla.unit ?? 'd').toLowerCase()];
  if (typeof sla.value === 'number' && unit) return `${sla.value}${unit}`;
  const iso = typeof sla.value === 'string' ? /^PT(\d+)S$/.exec(sla.value) : null;
  return iso ? `${iso[1]}s` : undefined;
}

function slaOf(contract: Contract, problems: Problems, built: Built) {
  const sla: { freshness?: string; availability?: number } = {};
  let retentionMs: number | undefined;
  (contract.slaProperties ?? []).forEach((entry, i) => {
    const at = `slaProperties[${i}]`;
    if (entry.property === 'freshness' || entry.property === 'latency') {
      const freshness = slaDurationText(entry);
      if (freshness && parseDuration(freshness)) {
        sla.freshness = freshness;
        built.origins.push(['sla.freshness', at]);
      } else
        problems.push(
          `${at}: freshness ${JSON.stringify(entry.value)}${entry.unit ? ` ${entry.unit}` : ''} is not a duration; give value as a number with unit d, h or m`,
        );
    } else if (entry.property === 'availability') {
      const percent = Number(String(entry.value).replace(/%\s*$/, ''));
      if (Number.isFinite(percent) && percent > 0 && percent <= 100) {
        sla.availability = Number((percent / 100).toPrecision(12));
        built.origins.push(['sla.availability', at]);
      } else
        problems.push(
          `${at}: availability ${JSON.stringify(entry.value)} is not a percentage; write it like "99.9%"`,
        );
    } else if (entry.property === 'retention') {
      const retention = slaDurationText(entry);
      retentionMs = retention ? parseDuration(retention) : undefined;
      if (retentionMs === undefined)
        problems.push(
          `${at}: retention ${JSON.stringify(entry.value)}${entry.unit ? ` ${entry.unit}` : ''} is not a duration; give value as a number with unit d, h or m`,
        );
    }
    // Other SLA properties (frequency, timeOfAvailability, ...) describe nothing Meshloop runs.
  });
  return { sla, retentionMs };
}

function ownerOf(contract: Contract, problems: Problems, built: Built): string {
  const team = contract.team;
  const members = Array.isArray(team) ? team : (team?.members ?? []);
  const owner =
    (Array.isArray(team) ? undefined : team?.name) ??
    members.find((m) => m.role?.toLowerCase() === 'owner')?.username;
  if (owner) return owner;
  built.said.add('owner');
  problems.push('team: no owner; set team.name to the owning team (or a member with role: owner)');
  return '';
}

function carried(contract: Contract, built: Built, specKey: string, key: string): unknown {
  const index = customIndex(contract.customProperties, key);
  if (index < 0) return undefined;
  built.origins.push([specKey, `customProperties[${index}] (${key})`]);
  return contract.customProperties![index]!.value;
}

/** The output topic, classification and event time: Meshloop's, else what ODCS says of them. */
function carriedParts(contract: Contract, built: Built, retentionMs: number | undefined) {
  const object = contract.schema[0]!;
  const outputTopic = (carried(contract, built, 'outputTopic', customKeys.outputTopic) as
    object | undefined) ?? {
    ...(object.physicalName ? { name: object.physicalName } : {}),
    ...(retentionMs !== undefined ? { retentionMs } : {}),
  };
  const classification = carried(contract, built, 'classification', customKeys.classification) ?? {};
  const eventTimeField = carried(contract, built, 'schema.eventTimeField', customKeys.eventTimeField);
  return { outputTopic, classification, eventTime: eventTimeField !== undefined ? { eventTimeField } : {} };
}

function namesOf(contract: Contract, problems: Problems, built: Built) {
  const object = contract.schema[0]!;
  if (!contract.domain) built.said.add('domain');
  if (!contract.domain)
    problems.push(
      'domain: missing; set it to the Meshloop domain that owns the product (one of mesh.yaml’s domains)',
    );
  const purpose = contract.description?.purpose;
  built.origins.push(
    ['name', contract.name ? 'name' : 'schema[0].name'],
    ['domain', 'domain'],
    ['owner', 'team'],
    ['tags', 'tags'],
    ['description', purpose ? 'description.purpose' : 'schema[0].description'],
  );
  const description = purpose ?? object.description;
  return {
    name: contract.name ?? object.name,
    domain: contract.domain ?? '',
    owner: ownerOf(contract, problems, built),
    ...(description ? { description } : {}),
    ...(contract.tags && contract.tags.length > 0 ? { tags: contract.tags } : {}),
  };
}

function specInputOf(contract: Contract, problems: Problems): Built {
  const built: Built = { spec: {} as ProductSpecInput, origins: [], said: new Set() };
  const names = namesOf(contract, problems, built);
  const { fields, key, quality, masking } = fieldsOf(contract, problems, built);
  const { sla, retentionMs } = slaOf(contract, problems, built);
  const { outputTopic, classification, eventTime } = carriedParts(contract, built, retentionMs);
  const optional = (specKey: string, key: string) => {
    const value = carried(contract, built, specKey, key);
    return value === undefined ? {} : { [specKey]: value };
  };
  built.spec = {
    ...names,
    kind: (carried(contract, built, 'kind', customKeys.kind) ?? 'source-aligned') as ProductSpecInput['kind'],
    ...optional('inputs', customKeys.inputs),
    outputTopic,
    schema: { fields, key, ...eventTime } as ProductSpecInput['schema'],
    sla,
    quality,
    ...optional('analysis', customKeys.analysis),
    classification: {
      ...classification,
      ...(masking.length > 0 ? { masking } : {}),
    } as ProductSpecInput['classification'],
    ...optional('sql', customKeys.sql),
    ...optional('proposal', customKeys.proposal),
    ...optional('materialization', customKeys.materialization),
  };
  return built;
}

/** The origin whose spec path is the longest prefix of `specPath`. */
function originOf(specPath: string, origins: Built['origins']): [string, string] | undefined {
  let best: [string, string] | undefined;
  for (const origin of origins) {
    const [prefix] = origin;
    const matches =
      specPath === prefix || specPath.startsWith(`${prefix}.`) || specPath.startsWith(`${prefix}[`);
    if (matches && (!best || prefix.length > best[0].length)) best = origin;
  }
  return best;
}

/** A spec problem (`path: message`) named by where it came from in the contract. */
function inContract(problem: string, origins: Built['origins']): string {
  const colon = problem.indexOf(': ');
  const specPath = colon > 0 ? problem.slice(0, colon) : '';
  const message = colon > 0 ? problem.slice(colon + 2) : problem;
  const origin = originOf(specPath, origins);
  if (!origin)
    return `${specPath || '(contract)'}: ${message} (the spec's ${specPath || 'whole'}, see docs/contracts.md)`;
  const rest = specPath.slice(origin[0].length);
  if (!rest) return `${origin[1]}: ${message}`;
  // Inside a custom property's value the rest is a path in that value; elsewhere it goes on in the contract.
  return origin[1].includes(' (')
    ? `${origin[1]}: ${message} (at ${rest.replace(/^\./, '')} of its value)`
    : `${origin[1]}${rest}: ${message}`;
}

/** Decode text size-checked: refuses contracts larger than MAX_CONTRACT_BYTES. */
export function contractTooLarge(bytes: number): string | undefined {
  return bytes > MAX_CONTRACT_BYTES
    ? `(contract): ${bytes} bytes; a contract may be at most ${MAX_CONTRACT_BYTES} bytes (1 MiB): shorten descriptions, SQL or lists`
    : undefined;
}

/** The proposal, proposed by the person who imports the contract, with the contract as evidence. */
function proposedBy(
  proposal: ProductSpecInput['proposal'],
  by: string,
  id: string,
  source: string,
): ProductSpecInput['proposal'] {
  const evidence = [
    ...(proposal?.evidence ?? []),
    { summary: `imported from the ODCS contract ${id}`, source },
  ];
  return { ...proposal, proposedBy: { kind: 'person', name: by }, evidence: evidence.slice(-50) };
}

/**
 * The spec an ODCS contract describes. Throws InvalidSpecError listing every problem, each with its
 * place in the contract. `by` (who imports it) becomes the proposal's proposer, a person.
 */
export function specOfContract(value: unknown, options: { source?: string; by?: string } = {}): ProductSpec {
  const source = options.source ?? 'contract';
  const parsed = contractSchema.safeParse(value);
  if (!parsed.success)
    throw new InvalidSpecError(
      `invalid ODCS contract ${source}`,
      parsed.error.issues.map(
        (issue) => `${formatIssuePath(issue.path).replace('(spec)', '(contract)')}: ${issue.message}`,
      ),
    );
  const problems: Problems = [];
  const built = specInputOf(parsed.data, problems);
  if (options.by) built.spec.proposal = proposedBy(built.spec.proposal, options.by, parsed.data.id, source);
  let spec: ProductSpec | undefined;
  try {
    spec = parseSpec(built.spec, source);
  } catch (error) {
    if (!(error instanceof InvalidSpecError)) throw error;
    const unsaid = (problem: string) => !built.said.has(problem.slice(0, Math.max(0, problem.indexOf(': '))));
    problems.push(...error.problems.filter(unsaid).map((problem) => inContract(problem, built.origins)));
  }
  if (problems.length > 0 || !spec) throw new InvalidSpecError(`invalid ODCS contract ${source}`, problems);
  return spec;
}

export { MESHLOOP_VENDOR };
