import type { ColumnLineage, ProductJob } from './creation';
import type { Decision, ProvisionedResource, Stage } from './lifecycle';
import type { TableStatus } from './materialization';
import type { OutputTopic, ProductInput, ProductKind, ProductSpec } from './spec';
import { productIdOf } from './spec';

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
  /** ISO time of the change that produced this descriptor (workflow time, so replay-safe). */
  updatedAt: string;
  /**
   * Raised with every decision of the product (its decision count): readers keep the highest, so a
   * late attempt of an older publish cannot replace a newer descriptor.
   */
  version: number;
}>;

export function toCatalogDescriptor(input: {
  spec: ProductSpec;
  stage: Stage;
  decisions: readonly Decision[];
  resources: readonly ProvisionedResource[];
  table?: TableStatus;
  lineage?: readonly ColumnLineage[];
  job?: ProductJob;
  updatedAt: Date | string;
  version?: number;
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
    updatedAt: typeof input.updatedAt === 'string' ? input.updatedAt : input.updatedAt.toISOString(),
    version: input.version ?? 0,
  };
}

/** Product ids this product reads (its upstream lineage inside the mesh). */
export function upstreamProductsOf(spec: { inputs: readonly ProductInput[] }): string[] {
  return spec.inputs.flatMap((input) => ('product' in input ? [input.product] : []));
}

/** A descriptor's version as read from the catalog (0 for records written before versions). */
export function descriptorVersion(record: unknown): number {
  if (record === null || typeof record !== 'object') return 0;
  const version = (record as { version?: unknown }).version;
  return typeof version === 'number' && Number.isSafeInteger(version) && version >= 0 ? version : 0;
}
