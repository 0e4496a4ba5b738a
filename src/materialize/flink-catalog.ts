import type { IcebergConnection, MeshloopConfig } from '../config';
import { secretValuesOf } from '../domain/flink-types';

/**
 * The properties of the Iceberg catalog a materialization job's session creates (Iceberg's REST
 * catalog and S3FileIO property names, from Iceberg's AWS bundle on Flink's classpath). They carry
 * the catalog's and the object store's credentials: they are sent in the job's SQL Gateway session
 * only (`CREATE CATALOG` configures the session; nothing stores it), never logged, and a failure of
 * that statement is reported without them (the gateway client scrubs `flinkSessionSecrets`).
 */
export function flinkIcebergCatalogProperties(
  uri: string,
  connection?: Omit<IcebergConnection, 'catalogUrl'>,
): Record<string, string> {
  const properties: Record<string, string> = { type: 'iceberg', 'catalog-type': 'rest', uri };
  if (connection?.warehouse) properties.warehouse = connection.warehouse;
  const auth = connection?.auth;
  if (auth?.kind === 'token') properties.token = auth.token;
  if (auth?.kind === 'oauth2') {
    properties.credential = `${auth.clientId}:${auth.clientSecret}`;
    properties['oauth2-server-uri'] = auth.serverUri;
    properties.scope = auth.scope;
  }
  const store = connection?.objectStore;
  if (store) {
    properties['io-impl'] = 'org.apache.iceberg.aws.s3.S3FileIO';
    if (store.endpoint) properties['s3.endpoint'] = store.endpoint;
    properties['s3.path-style-access'] = String(store.pathStyle);
    properties['client.region'] = store.region;
    if (store.accessKeyId) properties['s3.access-key-id'] = store.accessKeyId;
    if (store.secretAccessKey) properties['s3.secret-access-key'] = store.secretAccessKey;
    if (store.sessionToken) properties['s3.session-token'] = store.sessionToken;
  }
  return properties;
}

/** The secret values among the catalog properties, longest first. */
export function catalogSecretValues(connection?: Omit<IcebergConnection, 'catalogUrl'>): string[] {
  const auth = connection?.auth;
  const store = connection?.objectStore;
  return [
    auth?.kind === 'token' ? auth.token : undefined,
    auth?.kind === 'oauth2' ? `${auth.clientId}:${auth.clientSecret}` : undefined,
    auth?.kind === 'oauth2' ? auth.clientSecret : undefined,
    store?.secretAccessKey,
    store?.sessionToken,
  ]
    .filter((value): value is string => value !== undefined && value !== '')
    .sort((a, b) => b.length - a.length);
}

/**
 * Every secret a Flink SQL Gateway session of ours may carry (Kafka's, the registry's, the Iceberg
 * catalog's and the object store's): the gateway client scrubs them from every error it reports.
 */
export function flinkSessionSecrets(config: Pick<MeshloopConfig, 'flink' | 'iceberg'>): string[] {
  return [...new Set([...secretValuesOf(config.flink), ...catalogSecretValues(config.iceberg)])].sort(
    (a, b) => b.length - a.length,
  );
}
