import fsp from 'node:fs/promises';
import path from 'node:path';
import type { StackConfig } from '../../config';
import { ensureMavenLibs, requireJava } from '../install';
import { httpOk } from '../probe';
import type { ServiceDefinition } from '../types';

/**
 * The Iceberg REST catalog: Iceberg's own `RESTCatalogServer` (from `iceberg-open-api`, a shaded jar
 * that already contains Jetty, Hadoop's file IO and the SQLite JDBC driver), over a JDBC catalog kept in
 * a SQLite file, with table files in a local folder.
 */

export const icebergHome = (config: StackConfig) =>
  path.join(config.cacheDir, `iceberg-rest-${config.iceberg.version}`);

/** Where table data and metadata files live. Flink writes here and analysis reads here: one machine. */
export const icebergWarehouseDir = (config: StackConfig) => path.join(config.dataDir, 'iceberg', 'warehouse');

export const icebergService: ServiceDefinition = {
  name: 'iceberg',
  title: 'Iceberg REST catalog',
  ports: (config) => [{ port: config.iceberg.port, setting: 'MESHLOOP_ICEBERG_REST_PORT' }],
  urls: (config) => ({
    catalog: `http://127.0.0.1:${config.iceberg.port}`,
    warehouse: `file://${icebergWarehouseDir(config)}`,
  }),
  async install(ctx) {
    requireJava('the Iceberg REST catalog');
    await ensureMavenLibs({
      dir: icebergHome(ctx.config),
      artifacts: [],
      standaloneArtifacts: [
        {
          groupId: 'org.apache.iceberg',
          artifactId: 'iceberg-open-api',
          version: ctx.config.iceberg.version,
        },
      ],
      label: `Iceberg REST catalog ${ctx.config.iceberg.version} (a 210 MB jar)`,
      service: 'iceberg',
      progress: ctx.progress,
    });
  },
  async prepare(ctx) {
    const java = requireJava('the Iceberg REST catalog');
    const warehouse = icebergWarehouseDir(ctx.config);
    await fsp.mkdir(warehouse, { recursive: true });
    return {
      command: java,
      args: [
        '-Xms64m',
        '-Xmx384m',
        '-XX:+UseSerialGC',
        '-cp',
        `${path.join(icebergHome(ctx.config), 'lib')}/*`,
        'org.apache.iceberg.rest.RESTCatalogServer',
      ],
      // The server takes its catalog properties from CATALOG_* variables (CATALOG_REST_PORT → rest.port).
      // It has no bind-address setting and listens on all interfaces.
      env: {
        CATALOG_WAREHOUSE: `file://${warehouse}`,
        // A file, not `:memory:`: tables must survive a restart of the catalog.
        CATALOG_URI: `jdbc:sqlite:${path.join(ctx.paths.stateDir, 'catalog.db')}`,
        CATALOG_REST_PORT: String(ctx.config.iceberg.port),
      },
      cwd: ctx.paths.stateDir,
    };
  },
  probe: (ctx) => httpOk(`http://127.0.0.1:${ctx.config.iceberg.port}/v1/config`),
};
