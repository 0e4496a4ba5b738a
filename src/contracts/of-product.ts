import type { MeshloopConfig } from '../config';
import type { ProductStatus } from '../../workflows/definitions';
import type { ContractServers } from './odcs';
import { contractOf } from './odcs';

/** Where the product's data is, from the configuration: addresses, never credentials. */
export function contractServersOf(config: MeshloopConfig): ContractServers {
  return {
    kafkaBootstrap: config.kafka.brokers.join(','),
    icebergCatalogUrl: config.iceberg.catalogUrl,
    icebergCatalog: config.materialize.catalog,
    ...(config.iceberg.warehouse ? { icebergWarehouse: config.iceberg.warehouse } : {}),
  };
}

/** The contract of a product as its workflow knows it now (the status query `show` reads). */
export function contractOfStatus(status: ProductStatus, config: MeshloopConfig) {
  return contractOf(
    {
      spec: status.spec,
      productId: status.productId,
      stage: status.stage,
      revision: status.revision,
      decisions: status.decisions,
      proposedAt: status.proposedAt,
      ...(status.lineage ? { lineage: status.lineage } : {}),
      ...(status.materialization ? { materialization: status.materialization } : {}),
    },
    contractServersOf(config),
  );
}
