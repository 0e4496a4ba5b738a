import type { Kafka } from 'kafkajs';
import type { SqlGatewayClient } from '../src/adapters/flink/sql-gateway';
import type { CatalogRecord } from '../src/adapters/kafka/catalog';
import { readCatalog } from '../src/adapters/kafka/catalog';
import { CATALOG_TOPIC } from '../src/adapters/kafka/client';
import { checkProductSql } from '../src/creation/guard';
import type { UpstreamProduct } from '../src/creation/inputs';
import { inputBindingsOf } from '../src/creation/inputs';
import { upstreamProductsOf } from '../src/domain/catalog';
import type { ProductJobInput, SqlCheckResult } from '../src/domain/creation';
import { parseSpec } from '../src/domain/spec';
import type { Logger } from '../src/log';
import { translatingFailures } from './failures';

export type SqlGuardActivityDependencies = Readonly<{
  kafka: Kafka;
  gateway: SqlGatewayClient;
  /** Kafka as Flink's processes reach it (config.flink.kafkaBootstrapServers). */
  kafkaBootstrapServers: string;
  log: Logger;
  catalogTopic?: string;
}>;

/** A catalog descriptor's spec, when it is one (records are untrusted). */
function upstreamOf(record: CatalogRecord | undefined): UpstreamProduct | undefined {
  if (!record) return undefined;
  try {
    return parseSpec(record.spec, `catalog spec of ${record.productId}`);
  } catch {
    return undefined;
  }
}

/**
 * The SQL guard as an activity: before a product is put to its approvers and again before it is
 * deployed. Product inputs are read from the catalog; SQL problems come back in the result (plain
 * JSON), only an unreachable Kafka or gateway fails the activity (and Temporal retries).
 */
export function createSqlGuardActivities(deps: SqlGuardActivityDependencies) {
  const log = deps.log.child('sql-guard');
  return translatingFailures({
    async checkProductSql(input: ProductJobInput): Promise<SqlCheckResult> {
      const upstream = upstreamProductsOf(input.spec);
      const catalog =
        upstream.length > 0
          ? await readCatalog(deps.kafka, { topic: deps.catalogTopic ?? CATALOG_TOPIC, log })
          : new Map<string, CatalogRecord>();
      const { bindings, problems } = inputBindingsOf(input.spec, (productId) =>
        upstreamOf(catalog.get(productId)),
      );
      const result: SqlCheckResult =
        problems.length > 0
          ? { ok: false, problems, columns: [], lineage: [] }
          : await checkProductSql(
              { gateway: deps.gateway, kafkaBootstrapServers: deps.kafkaBootstrapServers, log },
              { spec: input.spec, inputs: bindings },
            );
      log.info(result.ok ? 'product SQL accepted' : 'product SQL refused', {
        productId: input.productId,
        revision: input.revision,
        problems: result.problems,
      });
      return result;
    },
  });
}

export type SqlGuardActivities = ReturnType<typeof createSqlGuardActivities>;
