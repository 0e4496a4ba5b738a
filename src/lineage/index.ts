import type { FlinkRestClient } from '../adapters/flink';
import type { IcebergCatalogClient } from '../adapters/iceberg/catalog';
import type { MeshloopConfig } from '../config';
import type { Logger } from '../log';
import { LineageEmitter } from './emitter';
import { MESHLOOP_PRODUCER } from './events';
import type { LineageTransport, TransportOptions } from './transport';
import { FileLineageTransport, HttpLineageTransport } from './transport';

export { LineageEmitter } from './emitter';

/** The transport the configuration names, or undefined when lineage is off. */
export function lineageTransportOf(
  lineage: MeshloopConfig['lineage'],
  options: TransportOptions,
): LineageTransport | undefined {
  if (!lineage) return undefined;
  if (lineage.file !== undefined) return new FileLineageTransport(lineage.file, options);
  return new HttpLineageTransport(lineage.url, lineage.apiKey, options);
}

/**
 * The worker's OpenLineage emitter (docs/lineage.md), or undefined when neither
 * MESHLOOP_OPENLINEAGE_URL nor MESHLOOP_OPENLINEAGE_FILE is set.
 */
export function lineageEmitterOf(
  config: Pick<MeshloopConfig, 'lineage' | 'kafka' | 'iceberg' | 'materialize'>,
  deps: Readonly<{ log: Logger; iceberg?: IcebergCatalogClient; flinkRest?: FlinkRestClient }>,
): LineageEmitter | undefined {
  const transport = lineageTransportOf(config.lineage, { log: deps.log });
  if (!transport || !config.lineage) return undefined;
  return new LineageEmitter({
    naming: {
      namespace: config.lineage.namespace,
      producer: MESHLOOP_PRODUCER,
      kafkaBootstrap: config.kafka.brokers[0] ?? 'localhost:9092',
      iceberg: {
        catalogUri: config.iceberg.catalogUrl,
        catalogName: config.materialize.catalog,
        ...(config.iceberg.warehouse ? { warehouse: config.iceberg.warehouse } : {}),
      },
    },
    transport,
    log: deps.log,
    ...(deps.iceberg ? { iceberg: deps.iceberg } : {}),
    ...(deps.flinkRest ? { flinkRest: deps.flinkRest } : {}),
  });
}
