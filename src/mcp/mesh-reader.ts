import type { Client } from '@temporalio/client';
import type { Kafka } from 'kafkajs';
import { stringify as toYaml } from 'yaml';
import { readCatalog } from '../adapters/kafka/catalog';
import { listingClient } from '../adapters/temporal/listing';
import { contractYaml } from '../contracts/odcs';
import { contractOfStatus } from '../contracts/of-product';
import type { MeshloopConfig } from '../config';
import type { CatalogView } from '../domain/catalog-view';
import { upstreamProductsOf } from '../domain/catalog';
import { parseDuration } from '../domain/duration';
import { meshloopSearchAttributes } from '../domain/search-attributes';
import { workflowIdOf } from '../domain/spec';
import { MeshloopError } from '../domain/errors';
import { productTableStatus, queryProduct } from '../query/product-query';
import { getStatusQuery } from '../../workflows/definitions';
import type { ProductStatus } from '../../workflows/definitions';

/** A product as a list shows it: from Temporal's visibility, with the catalog's description and tags. */
export type ProductSummary = Readonly<{
  productId: string;
  stage: string;
  owner: string;
  domain: string;
  kind: string;
  description: string;
  tags: readonly string[];
  proposedAt: string;
  critic: unknown;
}>;

/** What the mesh tells a reader (the MCP server's tools): nothing here changes anything. */
export type MeshReader = Readonly<{
  listProducts(): Promise<ProductSummary[]>;
  showProduct(productId: string): Promise<unknown>;
  contract(productId: string): Promise<unknown>;
  lineage(productId: string): Promise<unknown>;
  analysis(productId: string): Promise<unknown>;
  query(productId: string, sql: string | undefined, maxRows: number): Promise<unknown>;
}>;

/** A product that does not answer in time: no worker runs, or Temporal is unreachable. */
export class MeshTimeoutError extends MeshloopError {
  constructor(what: string, ms: number) {
    super(
      'Timeout',
      `${what} did not answer within ${ms / 1000} s: is a worker running? Start one with \`meshloop worker\` (or \`npm start\`)`,
      true,
    );
  }
}

async function within<T>(ms: number, what: string, run: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new MeshTimeoutError(what, ms)), ms);
  });
  try {
    return await Promise.race([run, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The mesh as Temporal (each product's workflow), the catalog topic and the Iceberg tables show it.
 * Reads the catalog once per call: it is small, and always current this way.
 */
export function meshReader(
  config: MeshloopConfig,
  client: Client,
  kafka: Kafka,
  options: { timeoutMs?: number } = {},
): MeshReader {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const catalog = async (): Promise<CatalogView> => (await readCatalog(kafka, { timeoutMs })).view;
  const status = (productId: string): Promise<ProductStatus> =>
    within(
      timeoutMs,
      `product ${productId}`,
      client.workflow.getHandle(workflowIdOf(productId)).query(getStatusQuery),
    ).catch((error: unknown) => {
      if ((error as Error).name === 'WorkflowNotFoundError')
        throw new MeshloopError(
          'NotFound',
          `no such product: ${productId}; list_products shows the products`,
          false,
        );
      throw error;
    });

  return {
    async listProducts() {
      const view = await catalog().catch(() => undefined);
      const products: ProductSummary[] = [];
      const listing = async () => {
        for await (const execution of listingClient(client, config.codec.payloadKeys).workflow.list({
          query: `WorkflowType = 'dataProductWorkflow'`,
        })) {
          const attributes = execution.typedSearchAttributes;
          const productId = execution.workflowId.replace(/^data-product:/, '');
          const descriptor = view?.get(productId);
          products.push({
            productId,
            stage: attributes.get(meshloopSearchAttributes.stage) ?? '-',
            owner: attributes.get(meshloopSearchAttributes.owner) ?? '-',
            domain: attributes.get(meshloopSearchAttributes.domain) ?? productId.split('.')[0] ?? '-',
            kind: attributes.get(meshloopSearchAttributes.kind) ?? '-',
            description: descriptor?.description ?? '',
            tags: descriptor?.tags ?? [],
            proposedAt: execution.startTime.toISOString(),
            critic: execution.memo?.critic ?? null,
          });
        }
      };
      await within(timeoutMs, 'Temporal', listing());
      return products;
    },

    async showProduct(productId) {
      const current = await status(productId);
      const table = await productTableStatus(
        config,
        current.productId,
        parseDuration(current.spec.sla.freshness),
      ).catch(() => current.materialization?.status);
      return { ...current, table };
    },

    async contract(productId) {
      const current = await status(productId);
      const approvals = current.decisions.filter((d) => d.action === 'approve');
      return {
        productId: current.productId,
        domain: current.spec.domain,
        owner: current.spec.owner,
        stage: current.stage,
        revision: current.revision,
        approvedBy: approvals.map((d) => ({ by: d.by, at: d.at, revision: d.revision })),
        spec: toYaml(current.spec),
        odcs: contractYaml(contractOfStatus(current, config)),
      };
    },

    async lineage(productId) {
      const current = await status(productId);
      const view = await catalog();
      const readers = view
        .all()
        .filter((d) => d.productId !== productId && upstreamProductsOf(d.spec).includes(productId))
        .map((d) => ({ productId: d.productId, stage: d.stage }));
      return {
        productId,
        inputs: current.spec.inputs,
        outputTopic: current.spec.outputTopic.name,
        columns: current.lineage ?? [],
        readers,
        derivedFrom: current.spec.proposal?.parentProductId ?? null,
        proposedFromIt: view.childrenOf(productId),
      };
    },

    async analysis(productId) {
      const current = await status(productId);
      return {
        productId,
        schedule: current.analysisSchedule ?? null,
        cycles: current.analysisCycles ?? [],
      };
    },

    async query(productId, sql, maxRows) {
      const answer = await queryProduct(config, productId, { sql, maxRows });
      return {
        table: answer.table,
        snapshotId: answer.snapshotId,
        committedAt: answer.committedAt,
        columns: answer.columns,
        rows: answer.rows,
        truncated: answer.truncated,
      };
    },
  };
}
