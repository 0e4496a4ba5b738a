import { z } from 'zod';
import { durationHint, parseDuration } from './duration';
import { InvalidSpecError } from './errors';
import { reservedProductNameProblem, reservedTopicNameProblem } from './topic-ownership';

/**
 * The data product spec: what a proposal asks for and what an approver approves. Pure (no I/O):
 * workflows validate amendments with it. Files are read by `src/specs/load.ts`.
 */

export const productKinds = ['source-aligned', 'aggregate', 'consumer-aligned'] as const;
export type ProductKind = (typeof productKinds)[number];

export const cleanupPolicies = ['delete', 'compact', 'compact,delete'] as const;
export type CleanupPolicy = (typeof cleanupPolicies)[number];

export const fieldTypes = [
  'string',
  'int',
  'long',
  'float',
  'double',
  'decimal',
  'boolean',
  'date',
  'timestamp',
  'bytes',
  'json',
] as const;
export type FieldType = (typeof fieldTypes)[number];

export const classificationLevels = ['public', 'internal', 'confidential', 'restricted'] as const;
export const maskingStrategies = ['hash', 'redact', 'tokenize', 'truncate', 'none'] as const;

const DAY_MS = 86_400_000;

// Names become Kafka topic names, workflow ids and catalog keys: no dots (the separator) or spaces.
const identifier = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(100, 'must be at most 100 characters')
  .regex(/^[^\s.]+$/, 'must not contain dots or spaces');

// Every string and list of a spec is bounded: specs travel through workflow history and the catalog.
const nonEmpty = z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters');
const text = (max: number) => z.string().trim().max(max, `must be at most ${max} characters`);
const list = <T extends z.ZodType>(item: T, max: number) =>
  z.array(item).max(max, `must list at most ${max} entries`);

const duration = z
  .string()
  .trim()
  .refine((text) => parseDuration(text) !== undefined, { message: `must be ${durationHint}` });

// The name an input has in the product's SQL (`FROM orders JOIN payments ...`).
const sqlAlias = z
  .string()
  .trim()
  .regex(
    /^[a-z_][a-z0-9_]{0,62}$/,
    'must be a SQL name: lowercase letters, digits and _, not starting with a digit',
  );

/** The columns of a raw topic's JSON records, as the product's SQL sees them. */
const inputColumnSchema = z.strictObject({
  name: nonEmpty,
  type: z.enum(fieldTypes, { error: `must be one of ${fieldTypes.join(', ')}` }),
  /** Personal data: an output column computed from it must be masked (the SQL guard checks). */
  pii: z.boolean().optional(),
});
export const inputFormats = ['json', 'avro'] as const;
const topicInputSchema = z.strictObject({
  topic: nonEmpty,
  as: sqlAlias.optional(),
  /**
   * How the topic's records are encoded: JSON text (the default), or Avro in the Schema
   * Registry's wire format (its schema registered under `<topic>-value`).
   */
  format: z.enum(inputFormats, { error: `must be one of ${inputFormats.join(', ')}` }).optional(),
  schema: z
    .strictObject({
      fields: list(inputColumnSchema, 1000).min(1, 'must list at least one field'),
      eventTimeField: nonEmpty.optional(),
    })
    .optional(),
});
// A product input's columns are that product's schema: nothing to declare.
const productInputSchema = z.strictObject({ product: nonEmpty, as: sqlAlias.optional() });

const inputSchema = z.union([topicInputSchema, productInputSchema], {
  error: "must be { topic: '<kafka topic>', as?, format?, schema? } or { product: '<domain>.<name>', as? }",
});

const outputTopicSchema = z.strictObject({
  /** Defaults to `<domain>.<name>`, filled in by `parseSpec`. */
  name: nonEmpty.optional(),
  partitions: z.number().int('must be a whole number').min(1, 'must be ≥ 1').max(10_000).default(3),
  /** -1 keeps data forever, as in Kafka's `retention.ms`. */
  retentionMs: z
    .number()
    .int('must be a whole number')
    .refine((ms) => ms === -1 || ms >= 60_000, { message: 'must be -1 (forever) or ≥ 60000 (one minute)' })
    .default(7 * DAY_MS),
  cleanupPolicy: z
    .enum(cleanupPolicies, { error: `must be one of ${cleanupPolicies.join(', ')}` })
    .default('delete'),
});

const fieldSchema = z.strictObject({
  name: nonEmpty,
  type: z.enum(fieldTypes, { error: `must be one of ${fieldTypes.join(', ')}` }),
  nullable: z.boolean().default(true),
  description: text(2000).default(''),
  /** Personal data: the classification must say how it is masked. */
  pii: z.boolean().default(false),
});

const schemaSchema = z.strictObject({
  fields: list(fieldSchema, 1000).min(1, 'must list at least one field'),
  /** Fields that make up the Kafka message key (and the table's identity). */
  key: list(nonEmpty, 20).default([]),
  eventTimeField: nonEmpty.optional(),
});

const slaSchema = z.strictObject({
  /** How old the newest record may be, e.g. `15m`. */
  freshness: duration.default('1h'),
  /** Share of time the product is readable, as a ratio: 0.999 means 99.9 %. */
  availability: z.number().gt(0, 'must be > 0').max(1, 'must be ≤ 1 (a ratio, e.g. 0.999)').default(0.99),
});

const qualityRuleSchema = z.discriminatedUnion(
  'rule',
  [
    z.strictObject({ rule: z.literal('notNull'), field: nonEmpty }),
    z.strictObject({ rule: z.literal('unique'), fields: list(nonEmpty, 20).min(1) }),
    z.strictObject({
      rule: z.literal('range'),
      field: nonEmpty,
      min: z.number().optional(),
      max: z.number().optional(),
    }),
    z.strictObject({
      rule: z.literal('allowedValues'),
      field: nonEmpty,
      values: list(text(200), 1000).min(1),
    }),
    z.strictObject({ rule: z.literal('freshness'), maxDelay: duration }),
    z.strictObject({
      rule: z.literal('custom'),
      name: nonEmpty,
      sql: text(5000).min(1, 'must not be empty'),
    }),
  ],
  { error: 'must have rule: notNull, unique, range, allowedValues, freshness or custom' },
);

const classificationSchema = z.strictObject({
  pii: z.boolean().default(false),
  level: z.enum(classificationLevels).default('internal'),
  /** How each personal field is masked for readers outside the owning domain. */
  masking: list(z.strictObject({ field: nonEmpty, strategy: z.enum(maskingStrategies) }), 1000).default([]),
});

const proposalSchema = z.strictObject({
  proposedBy: z.strictObject({ kind: z.enum(['agent', 'person']), name: nonEmpty }),
  reasoning: text(4000).default(''),
  evidence: list(
    z.strictObject({ summary: text(1000).min(1, 'must not be empty'), source: text(500).optional() }),
    50,
  ).default([]),
  confidence: z.number().min(0, 'must be between 0 and 1').max(1, 'must be between 0 and 1').optional(),
  /** The product whose analysis led to this proposal (lineage of ideas). */
  parentProductId: text(200).optional(),
});

const materializationSchema = z.strictObject({
  provider: z.enum(['flink', 'tableflow']).optional(),
  /** Tableflow's error handling: suspend (stop), skip (counted), log (dead-letter table). */
  errorMode: z.enum(['suspend', 'skip', 'log']).optional(),
  /** How long snapshots are kept, e.g. `7d` (Tableflow's default). */
  snapshotRetention: duration.optional(),
  /** How often the table commits (Flink checkpoints), e.g. `60s`. */
  commitInterval: duration.optional(),
});

export const analysisSchema = z.strictObject({
  /** How often an analysis cycle runs over the product's Iceberg table, e.g. `1h`. */
  every: duration.default('1h'),
});

export const productSpecSchema = z
  .strictObject({
    name: identifier,
    domain: identifier,
    owner: nonEmpty,
    description: text(4000).default(''),
    kind: z.enum(productKinds, { error: `must be one of ${productKinds.join(', ')}` }),
    inputs: list(inputSchema, 50).default([]),
    outputTopic: outputTopicSchema.prefault({}),
    schema: schemaSchema,
    sla: slaSchema.prefault({}),
    quality: list(qualityRuleSchema, 200).default([]),
    analysis: analysisSchema.prefault({}),
    classification: classificationSchema.prefault({}),
    tags: list(nonEmpty, 50).default([]),
    /** The transformation: one Flink SQL `SELECT` over the inputs, by their aliases. */
    sql: z
      .string()
      .trim()
      .min(1, 'must not be empty')
      .max(20_000, 'must be at most 20000 characters')
      .optional(),
    proposal: proposalSchema.optional(),
    /** How the product lands in Iceberg, overriding the mesh's defaults (see domain/materialization). */
    materialization: materializationSchema.optional(),
  })
  // Runs even when other parts failed (`when`), so one pass reports every problem; hence the
  // defensive reads of a value that may be only partly valid.
  .superRefine(crossFieldChecks, { when: () => true })
  .superRefine(reservedNameChecks, { when: () => true });

/**
 * The output topic (as named, or `<domain>.<name>` by default) and the product name must not take a
 * name reserved for another product's derived topics or table, nor an internal topic's.
 */
function reservedNameChecks(value: unknown, ctx: z.RefinementCtx): void {
  const spec = asRecord(value);
  const name = asText(spec.name);
  const domain = asText(spec.domain);
  const named = asText(asRecord(spec.outputTopic).name);
  // A default name from a bad domain or name: their own errors say so.
  const byDefault = name !== undefined && domain !== undefined ? `${domain}.${name}` : undefined;
  const output = named ?? (byDefault && /^[A-Za-z0-9._-]+$/.test(byDefault) ? byDefault : undefined);
  const topicProblem = output !== undefined ? reservedTopicNameProblem(output.trim()) : undefined;
  if (topicProblem)
    ctx.addIssue({
      code: 'custom',
      path: named !== undefined ? ['outputTopic', 'name'] : ['name'],
      message: named !== undefined ? topicProblem : `gives the output topic ${output}, which ${topicProblem}`,
    });
  const nameProblem = name !== undefined ? reservedProductNameProblem(name) : undefined;
  if (nameProblem) ctx.addIssue({ code: 'custom', path: ['name'], message: nameProblem });
}

type Loose = Record<string, unknown>;
const asList = (value: unknown): unknown[] => (Array.isArray(value) ? (value as unknown[]) : []);
const asRecord = (value: unknown): Loose => (value && typeof value === 'object' ? (value as Loose) : {});
const asText = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

/** Every field a key, rule or mask names must exist in the schema; field names are unique. */
function crossFieldChecks(value: unknown, ctx: z.RefinementCtx): void {
  const spec = asRecord(value);
  const schema = asRecord(spec.schema);
  const fields = asList(schema.fields).map(asRecord);
  const names = new Set<string>();
  fields.forEach((field, i) => {
    const name = asText(field.name);
    if (name === undefined) return;
    if (names.has(name)) {
      ctx.addIssue({
        code: 'custom',
        path: ['schema', 'fields', i, 'name'],
        message: `duplicate field '${name}'`,
      });
    }
    names.add(name);
  });
  if (fields.length === 0) return; // the schema's own error says so; naming missing fields would be noise
  const mustExist = (field: unknown, path: (string | number)[]) => {
    const name = asText(field);
    if (name !== undefined && !names.has(name.trim())) {
      ctx.addIssue({ code: 'custom', path, message: `no field '${name}' in schema.fields` });
    }
  };
  asList(schema.key).forEach((field, i) => mustExist(field, ['schema', 'key', i]));
  const eventTime = asText(schema.eventTimeField);
  if (eventTime !== undefined) {
    mustExist(eventTime, ['schema', 'eventTimeField']);
    const type = asText(fields.find((f) => f.name === eventTime)?.type);
    if (type && !['timestamp', 'long', 'date'].includes(type)) {
      ctx.addIssue({
        code: 'custom',
        path: ['schema', 'eventTimeField'],
        message: `must be a timestamp, long or date field (it is ${type})`,
      });
    }
  }
  asList(spec.quality)
    .map(asRecord)
    .forEach((rule, i) => {
      if ('field' in rule) mustExist(rule.field, ['quality', i, 'field']);
      asList(rule.fields).forEach((field, j) => mustExist(field, ['quality', i, 'fields', j]));
      if (rule.rule === 'range' && rule.min === undefined && rule.max === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['quality', i],
          message: 'a range rule needs min, max or both',
        });
      }
    });
  asList(asRecord(spec.classification).masking)
    .map(asRecord)
    .forEach((mask, i) => mustExist(mask.field, ['classification', 'masking', i, 'field']));
}

type ParsedSpec = z.output<typeof productSpecSchema>;

/** A validated product spec with every default filled in (the output topic always has a name). */
export type ProductSpec = Omit<ParsedSpec, 'outputTopic'> & {
  outputTopic: Required<ParsedSpec['outputTopic']>;
};
/** What a spec file may contain: defaults make most parts optional. */
export type ProductSpecInput = z.input<typeof productSpecSchema>;
export type ProductInput = ProductSpec['inputs'][number];
export type OutputTopic = ProductSpec['outputTopic'];
export type SchemaField = ProductSpec['schema']['fields'][number];
export type QualityRule = ProductSpec['quality'][number];
export type Proposal = NonNullable<ProductSpec['proposal']>;

/** `orders.daily_revenue`: path segments joined with dots, array indexes in brackets. */
export function formatIssuePath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else out += out === '' ? String(segment) : `.${String(segment)}`;
  }
  return out === '' ? '(spec)' : out;
}

/** Every problem zod found, one line each, `path: message`. */
export function describeIssues(error: z.ZodError): string[] {
  return error.issues.flatMap((issue) =>
    issue.code === 'unrecognized_keys'
      ? issue.keys.map((key) => `${formatIssuePath([...issue.path, key])}: unknown field (a typo?)`)
      : [`${formatIssuePath(issue.path)}: ${issue.message}`],
  );
}

/** Plain messages for the common cases, used by every parse (schema-level messages still win). */
export const friendlyErrors: z.core.$ZodErrorMap = (issue) => {
  if (issue.code === 'invalid_type' && issue.input === undefined) return 'is required';
  if (issue.code === 'invalid_type')
    return `must be ${issue.expected === 'array' ? 'a list' : `a ${issue.expected}`}`;
  return undefined;
};

/**
 * Validate an already-decoded spec (from YAML, JSON, a workflow payload or an amendment).
 * Throws InvalidSpecError listing every problem with its path.
 */
/**
 * The largest spec accepted, as UTF-8 bytes of JSON, on every path in (a spec file, a start input,
 * carried state, an amendment, a proposal, a catalog descriptor): all go through parseSpec. Chosen
 * below what each place a spec travels through accepts with room for what travels with it: a Kafka
 * record (the catalog descriptor; Kafka's default 1 MiB), a Temporal payload (2 MiB; a start
 * input, a continue-as-new input, an update) and a Flink statement. A real spec is a few kilobytes.
 */
export const MAX_SPEC_BYTES = 256 * 1024;

/** UTF-8 bytes of `value` as JSON; Infinity when it cannot be written as JSON (cycles, BigInt). */
export function specJsonBytes(value: unknown): number {
  try {
    const json = JSON.stringify(value);
    if (json === undefined) return 0;
    // Cheap bound first: UTF-8 takes at most 3 bytes per UTF-16 unit.
    if (json.length * 3 <= MAX_SPEC_BYTES) return json.length;
    return new TextEncoder().encode(json).length;
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

function tooLarge(value: unknown, source: string): InvalidSpecError | undefined {
  const bytes = specJsonBytes(value);
  if (bytes <= MAX_SPEC_BYTES) return undefined;
  return new InvalidSpecError(`invalid ${source}`, [
    Number.isFinite(bytes)
      ? `(spec): ${bytes} bytes of JSON; a spec may be at most ${MAX_SPEC_BYTES} bytes (256 KiB): shorten descriptions, SQL or lists`
      : '(spec): cannot be written as JSON',
  ]);
}

export function parseSpec(value: unknown, source = 'product spec'): ProductSpec {
  const large = tooLarge(value, source);
  if (large) throw large;
  const parsed = productSpecSchema.safeParse(value, { error: friendlyErrors });
  if (!parsed.success) throw new InvalidSpecError(`invalid ${source}`, describeIssues(parsed.error));
  const spec = parsed.data;
  const result: ProductSpec = {
    ...spec,
    outputTopic: { ...spec.outputTopic, name: spec.outputTopic.name ?? `${spec.domain}.${spec.name}` },
  };
  // Defaults add a little: the spec as it will travel stays under the cap too.
  const grown = tooLarge(result, source);
  if (grown) throw grown;
  return result;
}

/** The product's stable business key: `<domain>.<name>`. */
export function productIdOf(spec: Pick<ProductSpec, 'domain' | 'name'>): string {
  return `${spec.domain}.${spec.name}`;
}

/** The workflow id of a product: one workflow per product, found by its business key. */
export function workflowIdOf(productId: string): string {
  return `data-product:${productId}`;
}

/** The product id inside a workflow id, or undefined for other workflows. */
export function productIdOfWorkflowId(workflowId: string): string | undefined {
  return workflowId.startsWith('data-product:') ? workflowId.slice('data-product:'.length) : undefined;
}
