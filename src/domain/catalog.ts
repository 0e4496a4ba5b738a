import { z } from 'zod';
import type { ColumnLineage, ProductJob, ProductJobState } from './creation';
import { InvalidSpecError } from './errors';
import type { Decision, ProvisionedResource } from './lifecycle';
import { DecisionAction, Stage } from './lifecycle';
import type { TableStatus } from './materialization';
import { materializerProviders } from './materialization';
import type { OutputTopic, ProductInput, ProductKind, ProductSpec } from './spec';
import { describeIssues, parseSpec, productIdOf } from './spec';

/**
 * What the catalog (a compacted Kafka topic keyed by product id) holds for each product. The CLI,
 * the agents and any UI read it; lineage comes from `inputs`.
 */
export type CatalogDescriptor = Readonly<{
  productId: string;
  domain: string;
  name: string;
  owner: string;
  kind: ProductKind;
  stage: Stage;
  description: string;
  inputs: readonly ProductInput[];
  outputTopic: OutputTopic;
  tags: readonly string[];
  spec: ProductSpec;
  decisions: readonly Decision[];
  resources: readonly ProvisionedResource[];
  /** The product's Iceberg table as last described: table, snapshot, row count, last commit. */
  table?: TableStatus;
  /** Output column ← input fields, from the SQL guard. */
  lineage?: readonly ColumnLineage[];
  /** The Flink job that fills the topic: name, id, Web UI link, state, rejected input records. */
  job?: ProductJob;
  /** Why the critic dismissed it, and the fingerprint of the inputs it saw (set in `dismissed`). */
  dismissal?: Dismissal;
  /** ISO time of the change that produced this descriptor (workflow time, so replay-safe). */
  updatedAt: string;
  /**
   * Raised with every decision of the product (its decision count): readers keep the highest, so a
   * late attempt of an older publish cannot replace a newer descriptor.
   */
  version: number;
  /**
   * The workflow run that published it (its id and start time). Versions restart at 0 when a product
   * is proposed again after retirement; its new runs start later than every run of its old life, so
   * readers order descriptors by run start, then version (`supersedes`).
   */
  run?: DescriptorRun;
  /** The worker's signature over the rest (src/signing/record-key.ts): readers ignore a record without. */
  signature?: string;
}>;

export type DescriptorRun = Readonly<{ id: string; startedAt: string }>;

/** The critic's dismissal as the catalog keeps it: discovery and the analyst compare its fingerprint. */
export type Dismissal = Readonly<{
  at: string;
  by: 'rules' | 'llm';
  reasons: readonly string[];
  inputsFingerprint: string;
}>;

/** Signatures over descriptors name this purpose (a descriptor cannot pass for another record). */
export const CATALOG_SIGNATURE_PURPOSE = 'catalog-descriptor';

/**
 * Does `a` replace `b` (read after it)? The later run wins (a product's new life after retirement beats its old one,
 * whatever the versions), then the higher version; a descriptor without a run is older than any with.
 */
export function supersedes(
  a: Pick<CatalogDescriptor, 'run' | 'version'>,
  b: Pick<CatalogDescriptor, 'run' | 'version'>,
): boolean {
  const runA = a.run ? Date.parse(a.run.startedAt) : -Infinity;
  const runB = b.run ? Date.parse(b.run.startedAt) : -Infinity;
  if (runA !== runB) return runA > runB;
  return a.version >= b.version;
}

export function toCatalogDescriptor(input: {
  spec: ProductSpec;
  stage: Stage;
  decisions: readonly Decision[];
  resources: readonly ProvisionedResource[];
  table?: TableStatus;
  lineage?: readonly ColumnLineage[];
  job?: ProductJob;
  dismissal?: Dismissal;
  updatedAt: Date | string;
  version?: number;
  run?: DescriptorRun;
}): CatalogDescriptor {
  const { spec } = input;
  return {
    productId: productIdOf(spec),
    domain: spec.domain,
    name: spec.name,
    owner: spec.owner,
    kind: spec.kind,
    stage: input.stage,
    description: spec.description,
    inputs: spec.inputs,
    outputTopic: spec.outputTopic,
    tags: spec.tags,
    spec,
    decisions: input.decisions,
    resources: input.resources,
    ...(input.table ? { table: input.table } : {}),
    ...(input.lineage ? { lineage: input.lineage } : {}),
    ...(input.job ? { job: input.job } : {}),
    ...(input.dismissal ? { dismissal: input.dismissal } : {}),
    updatedAt: typeof input.updatedAt === 'string' ? input.updatedAt : input.updatedAt.toISOString(),
    version: input.version ?? 0,
    ...(input.run ? { run: input.run } : {}),
  };
}

/** Product ids this product reads (its upstream lineage inside the mesh). */
export function upstreamProductsOf(spec: { inputs: readonly ProductInput[] }): string[] {
  return spec.inputs.flatMap((input) => ('product' in input ? [input.product] : []));
}

/**
 * Reading the catalog. Its records are untrusted (anyone who can write the topic can write
 * anything) and span every version of Meshloop that wrote them: a descriptor needs what every
 * version wrote (product id, stage, a spec that parses and names the same product, decisions,
 * resources, time); `version`, `table`, `lineage` and `job` came later and may be absent. The
 * copies of spec fields at the top (name, owner, inputs ...) are not read: they are rebuilt from
 * the spec. A part only some readers show (a decision, a resource, the table, the job) that does
 * not parse is left out rather than losing the product.
 */
const stageSchema = z.enum(Stage);

/** Each element that parses; the others are left out. */
const listOf = <T>(schema: z.ZodType<T>) =>
  z.array(z.unknown()).transform((items) =>
    items.flatMap((item) => {
      const parsed = schema.safeParse(item);
      return parsed.success ? [parsed.data] : [];
    }),
  );

const decisionSchema = z.object({
  by: z.string(),
  action: z.enum(DecisionAction),
  at: z.string(),
  comment: z.string().optional(),
  revision: z.number(),
  stage: stageSchema,
  via: z.string().optional(),
  keyId: z.string().optional(),
});

const resourceSchema = z.object({
  kind: z.enum(['kafkaTopic', 'flinkJob', 'icebergTable']),
  name: z.string(),
  id: z.string().optional(),
  url: z.string().optional(),
  created: z.boolean(),
  at: z.string(),
});

const tableStatusSchema = z.object({
  table: z.string(),
  provider: z.enum(materializerProviders),
  snapshotId: z.string().optional(),
  rowCount: z.number().optional(),
  lastCommitAt: z.string().optional(),
  freshnessMs: z.number().optional(),
  withinSla: z.boolean().optional(),
  snapshots: z.number(),
});

const lineageSchema = z.array(
  z.object({
    column: z.string(),
    from: z.array(z.object({ input: z.string(), field: z.string() })),
  }),
);

const jobStates = [
  'INITIALIZING',
  'CREATED',
  'RUNNING',
  'FAILING',
  'FAILED',
  'CANCELLING',
  'CANCELED',
  'FINISHED',
  'RESTARTING',
  'SUSPENDED',
  'RECONCILING',
  'NOT_FOUND',
] as const satisfies readonly ProductJobState[];
// Every state the type knows is listed (a new one must be added here too).
const everyJobState: Exclude<ProductJobState, (typeof jobStates)[number]> extends never ? true : never = true;
void everyJobState;

const jobSchema = z.object({
  name: z.string(),
  id: z.string(),
  url: z.string().optional(),
  revision: z.number(),
  sql: z.string(),
  state: z.enum(jobStates),
  failure: z.string().optional(),
  rejectedRecords: z.number(),
  checkedAt: z.string(),
  savepoint: z.string().optional(),
});

const specSchema = z.unknown().transform((value, ctx): ProductSpec => {
  try {
    return parseSpec(value, 'catalog spec');
  } catch (error) {
    if (!(error instanceof InvalidSpecError)) throw error;
    for (const problem of error.problems) ctx.addIssue({ code: 'custom', message: problem });
    return z.NEVER;
  }
});

const descriptorSchema = z.object({
  productId: z.string().min(1),
  stage: stageSchema,
  spec: specSchema,
  decisions: listOf<Decision>(decisionSchema),
  resources: listOf<ProvisionedResource>(resourceSchema),
  table: tableStatusSchema.optional().catch(undefined),
  lineage: lineageSchema.optional().catch(undefined),
  job: jobSchema.optional().catch(undefined),
  dismissal: z
    .object({
      at: z.string().max(40),
      by: z.enum(['rules', 'llm']),
      reasons: z.array(z.string().max(2000)).max(20),
      inputsFingerprint: z.string().max(100),
    })
    .optional()
    .catch(undefined),
  updatedAt: z.string(),
  // Records written before versions existed (or with a bad one) count as version 0.
  version: z.number().int().nonnegative().optional().catch(undefined),
  run: z
    .object({
      id: z.string().max(100),
      startedAt: z
        .string()
        .max(40)
        .refine((t) => !Number.isNaN(Date.parse(t))),
    })
    .optional()
    .catch(undefined),
});

export type DescriptorParse =
  Readonly<{ ok: true; descriptor: CatalogDescriptor }> | Readonly<{ ok: false; problem: string }>;

/** One catalog record, decoded from JSON: the descriptor it holds, or why it is not one. */
export function parseCatalogDescriptor(value: unknown): DescriptorParse {
  const parsed = descriptorSchema.safeParse(value);
  if (!parsed.success) {
    const problems = describeIssues(parsed.error);
    const more = problems.length > 3 ? ` (and ${problems.length - 3} more)` : '';
    return { ok: false, problem: `not a catalog descriptor: ${problems.slice(0, 3).join('; ')}${more}` };
  }
  const { productId, version, ...parts } = parsed.data;
  if (productIdOf(parts.spec) !== productId) {
    return { ok: false, problem: `product ${productId} carries the spec of ${productIdOf(parts.spec)}` };
  }
  return { ok: true, descriptor: toCatalogDescriptor({ ...parts, version: version ?? 0 }) };
}

/** A descriptor's version as read from the catalog (0 for records written before versions). */
export function descriptorVersion(record: unknown): number {
  if (record === null || typeof record !== 'object') return 0;
  const version = (record as { version?: unknown }).version;
  return typeof version === 'number' && Number.isSafeInteger(version) && version >= 0 ? version : 0;
}
