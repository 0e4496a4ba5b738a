import type { Kafka } from 'kafkajs';
import type { SqlGatewayClient } from '../src/adapters/flink/sql-gateway';
import type { CatalogRecord } from '../src/adapters/kafka/catalog';
import { readCatalog } from '../src/adapters/kafka/catalog';
import { CATALOG_TOPIC } from '../src/adapters/kafka/client';
import { checkSpecSql } from '../src/creation/guard';
import { upstreamOfCatalogRecord } from '../src/creation/inputs';
import { upstreamProductsOf } from '../src/domain/catalog';
import type { ProductJobInput, SqlCheckResult } from '../src/domain/creation';
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
      const result = await checkSpecSql(
        { gateway: deps.gateway, kafkaBootstrapServers: deps.kafkaBootstrapServers, log },
        input.spec,
        (productId) => upstreamOfCatalogRecord(catalog.get(productId)),
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
