import { stringify } from 'yaml';
import type { Decision } from '../domain/lifecycle';
import type { ColumnLineage } from '../domain/creation';
import { parseDuration } from '../domain/duration';
import type { FieldType, ProductSpec, QualityRule, SchemaField } from '../domain/spec';
import { fieldTypes, productIdOf } from '../domain/spec';
import { piiKindOfName } from '../profile/pii';

/**
 * A product's data contract in the Open Data Contract Standard (ODCS v3.x, bitol.io): the spec and
 * the workflow's record of it, written in ODCS's own fields wherever ODCS has one (schema, types,
 * keys, classification, quality rules, SLA properties, servers, team, status), and the rest (the
 * SQL, the inputs, the topic's settings, the approvals...) in `customProperties` named `meshloop…`
 * (vendor `meshloop`), so that importing an exported contract gives the same spec back. Pure: the
 * status comes from the workflow's status query, the server coordinates from the configuration.
 * Reading a contract back is `odcs-import.ts`.
 */

/** The ODCS version written: the newest the `open-data-contract-standard` model (3.2.0) knows. */
export const ODCS_API_VERSION = 'v3.2.0';
/** The vendor of every custom property Meshloop writes (ODCS: `^[a-z0-9][a-z0-9-]*$`). */
export const MESHLOOP_VENDOR = 'meshloop';
/** Quality rules' ids: `rule_1`, `rule_2`... in the spec's order. */
export const QUALITY_ID_PREFIX = 'rule_';

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
export type CustomProperty = { property: string; value: Json; vendor?: string; description?: string };
export type OdcsQuality = Record<string, Json>;
export type OdcsProperty = Record<string, Json>;
export type OdcsContract = Record<string, Json>;

/** What the workflow knows of the product (its status query), as far as a contract says it. */
export type ContractSource = Readonly<{
  spec: ProductSpec;
  productId?: string;
  stage?: string;
  revision?: number;
  decisions?: readonly Decision[];
  proposedAt?: string;
  lineage?: readonly ColumnLineage[];
  materialization?: Readonly<{ table: string; provider: string }>;
}>;

/** Where the product's data is, from the configuration: addresses only, never credentials. */
export type ContractServers = Readonly<{
  /** Kafka's bootstrap servers, `host:port,...`. */
  kafkaBootstrap: string;
  /** The Iceberg REST catalog's URL, its catalog name (as Flink registers it) and warehouse. */
  icebergCatalogUrl: string;
  icebergCatalog: string;
  icebergWarehouse?: string;
  /** `dev`, `prod`...: ODCS's `environment` of both servers. */
  environment?: string;
}>;

export const customKeys = {
  kind: 'meshloopKind',
  inputs: 'meshloopInputs',
  sql: 'meshloopSql',
  outputTopic: 'meshloopOutputTopic',
  eventTimeField: 'meshloopEventTimeField',
  analysis: 'meshloopAnalysis',
  classification: 'meshloopClassification',
  materialization: 'meshloopMaterialization',
  proposal: 'meshloopProposal',
  stage: 'meshloopStage',
  revision: 'meshloopRevision',
  approval: 'meshloopApproval',
  masking: 'meshloopMasking',
  piiKind: 'meshloopPiiKind',
  type: 'meshloopType',
  duration: 'meshloopDuration',
  range: 'meshloopRange',
  condition: 'meshloopCondition',
  freshness: 'meshloopFreshness',
  table: 'meshloopTable',
} as const;

export const custom = (property: string, value: Json, description?: string): CustomProperty => ({
  property,
  value,
  vendor: MESHLOOP_VENDOR,
  ...(description ? { description } : {}),
});

const logicalTypes: Readonly<Record<FieldType, string>> = {
  string: 'string',
  int: 'integer',
  long: 'integer',
  float: 'number',
  double: 'number',
  decimal: 'number',
  boolean: 'boolean',
  date: 'date',
  timestamp: 'timestamp',
  bytes: 'string',
  json: 'string',
};

/** ODCS's status of a product's contract, by workflow stage (the stage itself otherwise). */
export function contractStatusOf(stage: string | undefined): string {
  switch (stage) {
    case undefined:
    case 'proposed':
    case 'awaitingApproval':
    case 'changesRequested':
      return 'proposed';
    case 'provisioning':
    case 'active':
    case 'degraded':
      return 'active';
    default:
      return stage;
  }
}

/** A duration as ODCS's SLA value and unit: d, h or m where exact (what datacontract reads), else ISO-8601. */
export function slaDurationOf(ms: number): { value: Json; unit?: string } {
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
  ] as const) {
    if (ms % size === 0) return { value: ms / size, unit };
  }
  return { value: `PT${ms / 1000}S` };
}

/** Text safe to show: no userinfo, query or fragment in a URL (a credential may hide there). */
export function withoutCredentials(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = '';
    parsed.password = '';
    parsed.search = '';
    parsed.hash = '';
    return parsed.toString().replace(/\/$/, '');
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//');
  }
}

/** A custom rule (one row condition) as an ODCS sql check: the rows where it does not hold, none allowed. */
export const conditionQuery = (condition: string) =>
  `SELECT COUNT(*) FROM \${object} WHERE (${condition}) IS NOT TRUE`;

function rangeQuery(min: number | undefined, max: number | undefined): string {
  const outside = [
    ...(min !== undefined ? [`\${property} < ${min}`] : []),
    ...(max !== undefined ? [`\${property} > ${max}`] : []),
  ];
  return `SELECT COUNT(*) FROM \${object} WHERE ${outside.join(' OR ')}`;
}

const ruleName = (rule: QualityRule): string => {
  switch (rule.rule) {
    case 'unique':
      return `unique_${rule.fields.join('_')}`;
    case 'freshness':
      return 'freshness';
    case 'custom':
      return rule.name;
    default:
      return `${rule.rule}_${rule.field}`;
  }
};

/** One quality rule in ODCS terms, and the property it belongs to (none: the schema object's). */
export function qualityOf(rule: QualityRule): { field?: string; quality: OdcsQuality } {
  const name = ruleName(rule);
  switch (rule.rule) {
    case 'notNull':
      return {
        field: rule.field,
        quality: { name, type: 'library', metric: 'nullValues', mustBe: 0, dimension: 'completeness' },
      };
    case 'unique': {
      const one = rule.fields.length === 1;
      return {
        ...(one ? { field: rule.fields[0] } : {}),
        quality: {
          name,
          type: 'library',
          metric: 'duplicateValues',
          ...(one ? {} : { arguments: { properties: [...rule.fields] } }),
          mustBe: 0,
          dimension: 'uniqueness',
        },
      };
    }
    case 'allowedValues':
      return {
        field: rule.field,
        quality: {
          name,
          type: 'library',
          metric: 'invalidValues',
          arguments: { validValues: [...rule.values] },
          mustBe: 0,
          dimension: 'conformity',
        },
      };
    case 'range': {
      const bounds: Record<string, Json> = {};
      if (rule.min !== undefined) bounds.min = rule.min;
      if (rule.max !== undefined) bounds.max = rule.max;
      return {
        field: rule.field,
        quality: {
          name,
          type: 'sql',
          description: `${rule.field} between ${rule.min ?? '-∞'} and ${rule.max ?? '+∞'} (or null)`,
          query: rangeQuery(rule.min, rule.max),
          mustBe: 0,
          dimension: 'accuracy',
          customProperties: [custom(customKeys.range, bounds)],
        },
      };
    }
    case 'freshness':
      return {
        quality: {
          name,
          type: 'text',
          description: `The newest record is at most ${rule.maxDelay} old (checked by Meshloop's analysis).`,
          dimension: 'timeliness',
          customProperties: [custom(customKeys.freshness, rule.maxDelay)],
        },
      };
    case 'custom':
      return {
        quality: {
          name,
          type: 'sql',
          description: `Every row satisfies: ${rule.sql}`,
          query: conditionQuery(rule.sql),
          mustBe: 0,
          customProperties: [custom(customKeys.condition, rule.sql)],
        },
      };
  }
}

function lineageOf(source: ContractSource, field: string): string[] {
  const column = source.lineage?.find((entry) => entry.column === field);
  if (!column) return [];
  const byAlias = new Map<string, string>();
  source.spec.inputs.forEach((input) => {
    const name = 'topic' in input ? input.topic : input.product;
    byAlias.set(input.as ?? name, name);
  });
  return [...new Set(column.from.map((from) => `${byAlias.get(from.input) ?? from.input}.${from.field}`))];
}

/** The PII kind a field's name says (discovery's rules, and the kinds its values show by name too). */
export function piiKindOfField(name: string): string | undefined {
  if (/e[-_]?mail/i.test(name)) return 'email';
  if (/phone|mobile/i.test(name)) return 'phone';
  return piiKindOfName(name);
}

function propertyOf(
  source: ContractSource,
  field: SchemaField,
  quality: OdcsQuality[],
  keyPosition: number,
): OdcsProperty {
  const { spec } = source;
  const masking = spec.classification.masking.find((mask) => mask.field === field.name);
  const piiKind = field.pii ? piiKindOfField(field.name) : undefined;
  const customProperties: CustomProperty[] = [];
  if (masking)
    customProperties.push(
      custom(customKeys.masking, masking.strategy, 'how readers outside the domain see it'),
    );
  if (piiKind) customProperties.push(custom(customKeys.piiKind, piiKind));
  const from = lineageOf(source, field.name);
  return {
    name: field.name,
    logicalType: logicalTypes[field.type],
    physicalType: field.type,
    ...(field.type === 'bytes' ? { logicalTypeOptions: { format: 'byte' } } : {}),
    required: !field.nullable,
    ...(keyPosition >= 0 ? { primaryKey: true, primaryKeyPosition: keyPosition + 1 } : {}),
    ...(field.description ? { description: field.description } : {}),
    ...(field.pii
      ? { classification: spec.classification.level, tags: ['pii', ...(piiKind ? [`pii:${piiKind}`] : [])] }
      : {}),
    ...(from.length > 0 ? { transformSourceObjects: from } : {}),
    ...(quality.length > 0 ? { quality } : {}),
    ...(customProperties.length > 0 ? { customProperties } : {}),
  };
}

function schemaObjectOf(source: ContractSource): OdcsContract {
  const { spec } = source;
  const byField = new Map<string, OdcsQuality[]>();
  const objectQuality: OdcsQuality[] = [];
  for (const [i, rule] of spec.quality.entries()) {
    const { field, quality: entry } = qualityOf(rule);
    // The id keeps the spec's order of rules, which ODCS spreads over the properties.
    const quality = { id: `${QUALITY_ID_PREFIX}${i + 1}`, ...entry };
    if (field === undefined) objectQuality.push(quality);
    else byField.set(field, [...(byField.get(field) ?? []), quality]);
  }
  return {
    name: spec.name,
    physicalName: spec.outputTopic.name,
    physicalType: 'topic',
    logicalType: 'object',
    ...(spec.description ? { description: spec.description } : {}),
    properties: spec.schema.fields.map((field) =>
      propertyOf(source, field, byField.get(field.name) ?? [], spec.schema.key.indexOf(field.name)),
    ),
    ...(objectQuality.length > 0 ? { quality: objectQuality } : {}),
  };
}

function slaPropertiesOf(spec: ProductSpec): OdcsContract[] {
  const freshnessMs = parseDuration(spec.sla.freshness) ?? 0;
  const eventTime = spec.schema.fields.find((field) => field.name === spec.schema.eventTimeField);
  const timed = eventTime && (eventTime.type === 'timestamp' || eventTime.type === 'date');
  const out: OdcsContract[] = [
    {
      property: 'freshness',
      ...slaDurationOf(freshnessMs),
      ...(timed ? { element: `${spec.name}.${eventTime.name}` } : {}),
      description: `The newest record is at most ${spec.sla.freshness} old`,
      customProperties: [custom(customKeys.duration, spec.sla.freshness)],
    },
    {
      property: 'availability',
      value: `${Number((spec.sla.availability * 100).toPrecision(12))}%`,
      description: 'Share of time the product is readable',
    },
  ];
  if (spec.outputTopic.retentionMs > 0)
    out.push({
      property: 'retention',
      ...slaDurationOf(spec.outputTopic.retentionMs),
      description: `Records are kept in the topic ${spec.outputTopic.name} this long (retention.ms ${spec.outputTopic.retentionMs})`,
    });
  return out;
}

function serversOf(source: ContractSource, servers: ContractServers): OdcsContract[] {
  const { spec } = source;
  const environment: OdcsContract = servers.environment ? { environment: servers.environment } : {};
  const table = source.materialization?.table ?? `${servers.icebergCatalog}.${spec.domain}.${spec.name}`;
  return [
    {
      server: 'kafka',
      type: 'kafka',
      ...environment,
      description: `The output topic ${spec.outputTopic.name}: plain JSON records${spec.schema.key.length > 0 ? `, keyed by ${spec.schema.key.join(', ')}` : ''}`,
      host: servers.kafkaBootstrap,
      format: 'json',
    },
    {
      server: 'iceberg',
      type: 'iceberg',
      ...environment,
      description: `The Iceberg table ${table}, kept current from the topic`,
      catalog: servers.icebergCatalog,
      catalogUrl: withoutCredentials(servers.icebergCatalogUrl),
      namespace: spec.domain,
      ...(servers.icebergWarehouse ? { warehouse: withoutCredentials(servers.icebergWarehouse) } : {}),
      customProperties: [custom(customKeys.table, table)],
    },
  ];
}

/** Who approved the current revision, and when (the workflow's decisions). */
export function approvalsOf(
  source: ContractSource,
): Array<{ by: string; at: string; via?: string; keyId?: string }> {
  const revision = source.revision;
  return (source.decisions ?? [])
    .filter((d) => d.action === 'approve' && (revision === undefined || d.revision === revision))
    .map((d) => ({
      by: d.by,
      at: d.at,
      ...(d.via ? { via: d.via } : {}),
      ...(d.keyId ? { keyId: d.keyId } : {}),
    }));
}

function teamOf(source: ContractSource): OdcsContract {
  const approvals = approvalsOf(source);
  return {
    name: source.spec.owner,
    description: `Owns ${productIdOf(source.spec)} in the ${source.spec.domain} domain`,
    members: [
      { username: source.spec.owner, role: 'owner' },
      ...approvals.map((approval) => ({
        username: approval.by,
        role: 'approver',
        description: `approved revision ${source.revision ?? 1} at ${approval.at}`,
      })),
    ],
  };
}

const json = (value: unknown): Json => JSON.parse(JSON.stringify(value)) as Json;

function customPropertiesOf(source: ContractSource): CustomProperty[] {
  const { spec } = source;
  const out: CustomProperty[] = [
    custom(customKeys.kind, spec.kind),
    custom(customKeys.inputs, json(spec.inputs), 'the inputs the SQL reads, by alias'),
  ];
  if (spec.sql) out.push(custom(customKeys.sql, spec.sql, 'the Flink SQL SELECT that computes the product'));
  out.push(custom(customKeys.outputTopic, json(spec.outputTopic)));
  if (spec.schema.eventTimeField) out.push(custom(customKeys.eventTimeField, spec.schema.eventTimeField));
  out.push(
    custom(customKeys.analysis, json(spec.analysis)),
    custom(customKeys.classification, { pii: spec.classification.pii, level: spec.classification.level }),
  );
  if (spec.materialization) out.push(custom(customKeys.materialization, json(spec.materialization)));
  if (spec.proposal) out.push(custom(customKeys.proposal, json(spec.proposal)));
  if (source.stage) out.push(custom(customKeys.stage, source.stage));
  if (source.revision !== undefined) out.push(custom(customKeys.revision, source.revision));
  const approvals = approvalsOf(source);
  if (approvals.length > 0)
    out.push(
      custom(
        customKeys.approval,
        {
          approvedBy: approvals.map((a) => a.by),
          approvedAt:
            approvals
              .map((a) => a.at)
              .sort()
              .at(-1) ?? null,
          revision: source.revision ?? 1,
          approvals: json(approvals),
        },
        'who approved the current revision, and when',
      ),
    );
  return out;
}

function versionOf(source: ContractSource): string {
  return `${source.revision ?? 1}.0.0`;
}

/** The product's contract as an ODCS object (write it with `contractYaml`). */
export function contractOf(source: ContractSource, servers: ContractServers): OdcsContract {
  const { spec } = source;
  return {
    apiVersion: ODCS_API_VERSION,
    kind: 'DataContract',
    id: source.productId ?? productIdOf(spec),
    name: spec.name,
    version: versionOf(source),
    status: contractStatusOf(source.stage),
    domain: spec.domain,
    ...(spec.tags.length > 0 ? { tags: [...spec.tags] } : {}),
    ...(spec.description ? { description: { purpose: spec.description } } : {}),
    team: teamOf(source),
    schema: [schemaObjectOf(source)],
    slaProperties: slaPropertiesOf(spec),
    servers: serversOf(source, servers),
    customProperties: customPropertiesOf(source),
    ...(source.proposedAt ? { contractCreatedTs: source.proposedAt } : {}),
  };
}

/** The Meshloop type of an ODCS property's physical type, as Meshloop or SQL engines name it. */
export function fieldTypeOfPhysical(physical: string): FieldType | undefined {
  const lower = physical.trim().toLowerCase();
  if ((fieldTypes as readonly string[]).includes(lower)) return lower as FieldType;
  const base = lower.replace(/\(.*$/, '').trim();
  const sqlTypes: Record<string, FieldType> = {
    varchar: 'string',
    char: 'string',
    text: 'string',
    integer: 'int',
    smallint: 'int',
    tinyint: 'int',
    bigint: 'long',
    real: 'float',
    'double precision': 'double',
    numeric: 'decimal',
    number: 'decimal',
    bool: 'boolean',
    binary: 'bytes',
    varbinary: 'bytes',
    blob: 'bytes',
    jsonb: 'json',
    variant: 'json',
  };
  if (base.startsWith('timestamp')) return 'timestamp';
  return sqlTypes[base];
}

/** The Meshloop type of an ODCS logical type (when no physical type says more). */
export function fieldTypeOfLogical(logical: string): FieldType | undefined {
  const byLogical: Record<string, FieldType> = {
    string: 'string',
    integer: 'long',
    number: 'double',
    boolean: 'boolean',
    date: 'date',
    timestamp: 'timestamp',
    object: 'json',
    array: 'json',
    map: 'json',
  };
  return byLogical[logical];
}

/**
 * The contract as YAML. Written by YAML 1.1's rules, so that text a 1.1 reader (PyYAML, which the
 * ODCS tools use) would take for a timestamp, a date or a boolean is quoted and stays text.
 */
export function contractYaml(contract: OdcsContract): string {
  return stringify(contract, { version: '1.1', lineWidth: 0 });
}
