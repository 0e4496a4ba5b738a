import type { Kafka } from 'kafkajs';
import type { SqlGatewayClient } from '../src/adapters/flink/sql-gateway';
import { readCatalog } from '../src/adapters/kafka/catalog';
import { CATALOG_TOPIC } from '../src/adapters/kafka/client';
import type { ValueSchemaLookup } from '../src/creation/avro-sql';
import { checkSpecSql } from '../src/creation/guard';
import type { FlinkConnectors } from '../src/creation/job-sql';
import type { UpstreamLookup } from '../src/creation/inputs';
import { inputBindingsOf, upstreamFromCatalog } from '../src/creation/inputs';
import type { ProductSpec } from '../src/domain/spec';
import { upstreamProductsOf } from '../src/domain/catalog';
import { CatalogView } from '../src/domain/catalog-view';
import type { ProductJobInput, SqlCheckResult } from '../src/domain/creation';
import type { LineageEmitter } from '../src/lineage';
import type { Logger } from '../src/log';

export type SqlGuardActivityDependencies = Readonly<{
  kafka: Kafka;
  gateway: SqlGatewayClient;
  /** Kafka and the registry as Flink's processes reach them (config.flink): secrets, session-only. */
  connectors: FlinkConnectors;
  /** Registered value schemas, for Avro inputs. */
  valueSchemas?: ValueSchemaLookup;
  log: Logger;
  catalogTopic?: string;
  /** Keeps the lineage of an accepted revision for its deployment's OpenLineage START event. */
  lineage?: LineageEmitter;
}>;

/**
 * The SQL guard as an activity: before a product is put to its approvers and again before it is
 * deployed. Product inputs are read from the catalog; SQL problems come back in the result (plain
 * JSON), only an unreachable Kafka or gateway fails the activity (and Temporal retries).
 */
export function createSqlGuardActivities(deps: SqlGuardActivityDependencies) {
  const log = deps.log.child('sql-guard');
  return {
    async checkProductSql(input: ProductJobInput): Promise<SqlCheckResult> {
      const lookup = await upstreamLookupFor(input.spec, {
        kafka: deps.kafka,
        catalogTopic: deps.catalogTopic,
        log,
      });
      const result = await checkSpecSql(
        {
          gateway: deps.gateway,
          connectors: deps.connectors,
          ...(deps.valueSchemas ? { valueSchemas: deps.valueSchemas } : {}),
          log,
        },
        input.spec,
        lookup,
      );
      if (result.ok && input.spec.sql && deps.lineage) {
        // The lineage names inputs by their alias: the bindings say which topic each one reads.
        const { bindings } = inputBindingsOf(input.spec, lookup);
        deps.lineage.rememberGuard(input.productId, input.revision, {
          sql: input.spec.sql,
          lineage: result.lineage,
          bindings,
        });
      }
      log.info(result.ok ? 'product SQL accepted' : 'product SQL refused', {
        productId: input.productId,
        revision: input.revision,
        problems: result.problems,
      });
      return result;
    },
  };
}

/**
 * The products a spec reads, as the catalog holds them now (read only when it has product inputs):
 * the guard and the deployment resolve inputs with this one lookup, which takes only products
 * that are active or deprecated with their current spec approved (upstreamFromCatalog).
 */
export async function upstreamLookupFor(
  spec: Pick<ProductSpec, 'inputs'>,
  deps: { kafka: Kafka; catalogTopic?: string; log: Logger },
): Promise<UpstreamLookup> {
  const catalog =
    upstreamProductsOf(spec).length > 0
      ? (await readCatalog(deps.kafka, { topic: deps.catalogTopic ?? CATALOG_TOPIC, log: deps.log })).view
      : CatalogView.empty;
  return (productId) => upstreamFromCatalog(catalog.get(productId));
}
