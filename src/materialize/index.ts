import path from 'node:path';
import { ensureDuckDbExtensions } from '../adapters/duckdb/extensions';
import { FlinkRestClient, SqlGatewayClient } from '../adapters/flink';
import { IcebergCatalogClient } from '../adapters/iceberg';
import { TableflowClient } from '../adapters/tableflow/client';
import { pathToFileURL } from 'node:url';
import type { MeshloopConfig } from '../config';
import { ensureParserJar } from '../stack/flink-udf';
import { flinkHome } from '../stack/services/flink';
import { flinkSessionSecrets } from './flink-catalog';
import type { Logger } from '../log';
import { firstBadRecordReader } from './dead-letters';
import { FlinkMaterializer } from './flink';
import { TableflowMaterializer } from './tableflow';
import type { Materializer } from './types';

export type Materializers = Readonly<{ flink?: Materializer; tableflow?: Materializer }>;

/** The providers this worker can use: Flink always; Tableflow when its keys are configured. */
export function createMaterializers(config: MeshloopConfig, log?: Logger): Materializers {
  const catalog = IcebergCatalogClient.of(config.iceberg);
  const flinkUi = config.flink.restUrl;
  return {
    flink: new FlinkMaterializer({
      catalog,
      gateway: new SqlGatewayClient({
        url: config.flink.sqlGatewayUrl,
        headers: config.flink.headers,
        log,
        secrets: flinkSessionSecrets(config),
      }),
      rest: new FlinkRestClient({ url: config.flink.restUrl, headers: config.flink.headers }),
      kafka: config.flink.kafka,
      icebergCatalogUri: config.flink.icebergCatalogUri,
      icebergCatalog: config.iceberg,
      flinkUiUrl: flinkUi,
      ...parserJarOf(config),
      firstBadRecord: firstBadRecordReader({
        catalog,
        icebergConnection: config.iceberg,
        extensionDir: () => ensureDuckDbExtensions(config.stack.cacheDir),
      }),
      log,
    }),
    ...(config.tableflow
      ? { tableflow: new TableflowMaterializer({ client: new TableflowClient(config.tableflow), log }) }
      : {}),
  };
}

/** Where Flink's materialization jobs load our JSON parser from (config.materialize.parserJar). */
export function parserJarOf(config: MeshloopConfig): { parserJar?: () => Promise<string> } {
  const setting = config.materialize.parserJar;
  if (!setting) return {};
  if ('uri' in setting) return { parserJar: () => Promise.resolve(setting.uri) };
  const lib = path.join(flinkHome(config.stack), 'lib');
  return {
    parserJar: async () => pathToFileURL(await ensureParserJar(config.stack, lib)).href,
  };
}

export type { Materializer } from './types';
