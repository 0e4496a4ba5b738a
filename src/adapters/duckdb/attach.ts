import type { DuckDBConnection } from '@duckdb/node-api';
import type { IcebergConnection } from '../../config';

/**
 * Attach the configured Iceberg REST catalog to a DuckDB connection: its credentials as a DuckDB
 * `iceberg` secret (a bearer token, or OAuth2 client credentials that DuckDB exchanges at the token
 * endpoint), the object store's as an `s3` secret, the warehouse as the attached database's name.
 * Secrets are temporary (this in-memory instance only) and these statements are never logged or
 * stored. Without credentials or an object store, the local platform's plain attach.
 */

const quoteString = (text: string) => `'${text.replace(/'/g, "''")}'`;

function option(name: string, value: string | boolean | undefined): string | undefined {
  if (value === undefined) return undefined;
  return `${name} ${typeof value === 'boolean' ? String(value) : quoteString(value)}`;
}

function list(options: ReadonlyArray<string | undefined>): string {
  return options.filter((entry): entry is string => entry !== undefined).join(', ');
}

/** `CREATE SECRET` for the object store: its endpoint as DuckDB wants it (host:port, TLS apart). */
export function s3SecretSql(name: string, store: NonNullable<IcebergConnection['objectStore']>): string {
  const endpoint = store.endpoint ? new URL(store.endpoint) : undefined;
  return `CREATE TEMPORARY SECRET ${name} (${list([
    'TYPE s3',
    'PROVIDER config',
    option('KEY_ID', store.accessKeyId),
    option('SECRET', store.secretAccessKey),
    option('SESSION_TOKEN', store.sessionToken),
    option('REGION', store.region),
    option('ENDPOINT', endpoint ? `${endpoint.host}${endpoint.pathname.replace(/\/+$/, '')}` : undefined),
    endpoint ? `USE_SSL ${endpoint.protocol === 'https:'}` : undefined,
    option('URL_STYLE', store.pathStyle ? 'path' : 'vhost'),
  ])})`;
}

/** `CREATE SECRET` for the catalog's credentials; undefined without any. */
export function icebergSecretSql(name: string, catalog: IcebergConnection): string | undefined {
  const auth = catalog.auth;
  if (!auth) return undefined;
  const fields =
    auth.kind === 'token'
      ? [option('TOKEN', auth.token)]
      : [
          option('CLIENT_ID', auth.clientId),
          option('CLIENT_SECRET', auth.clientSecret),
          option('OAUTH2_SERVER_URI', auth.serverUri),
          option('OAUTH2_SCOPE', auth.scope),
        ];
  return `CREATE TEMPORARY SECRET ${name} (${list(['TYPE iceberg', ...fields])})`;
}

/** `ATTACH` of the catalog as `alias`. */
export function attachSql(alias: string, catalog: IcebergConnection, readOnly: boolean): string {
  const withSecret = catalog.auth !== undefined;
  return `ATTACH ${quoteString(catalog.warehouse ?? 'warehouse')} AS ${alias} (${list([
    'TYPE iceberg',
    option('ENDPOINT', catalog.catalogUrl),
    withSecret ? 'SECRET meshloop_iceberg' : "AUTHORIZATION_TYPE 'none'",
    // Our own object-store credentials instead of ones the catalog would vend.
    catalog.objectStore ? "ACCESS_DELEGATION_MODE 'none'" : undefined,
    // DuckDB attaches a remote-looking name (`s3://…`) read-only unless told otherwise.
    readOnly ? 'READ_ONLY' : catalog.warehouse?.includes('://') ? 'READ_ONLY false' : undefined,
  ])})`;
}

export async function attachIcebergCatalog(
  connection: DuckDBConnection,
  alias: string,
  catalog: IcebergConnection,
  options: { readOnly: boolean },
): Promise<void> {
  if (catalog.objectStore) {
    await connection.run('LOAD httpfs');
    await runSecret(connection, s3SecretSql('meshloop_s3', catalog.objectStore), 'the object store (AWS_*)');
  }
  await connection.run('LOAD iceberg');
  const secret = icebergSecretSql('meshloop_iceberg', catalog);
  if (secret) await runSecret(connection, secret, 'the Iceberg catalog (MESHLOOP_ICEBERG_*)');
  await connection.run(attachSql(alias, catalog, options.readOnly));
}

/** A secret's statement fails without its text (DuckDB's parser errors quote the statement). */
async function runSecret(connection: DuckDBConnection, sql: string, what: string): Promise<void> {
  try {
    await connection.run(sql);
  } catch (error) {
    const message = (error as Error).message.split('\n')[0]!;
    throw new Error(
      `DuckDB refused the secret for ${what}: ${message.includes("'") ? 'invalid settings' : message}`,
    );
  }
}
