import { randomUUID } from 'node:crypto';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { IcebergCatalogClient } from '../adapters/iceberg/catalog';
import type { MeshloopConfig, ObjectStoreConnection } from '../config';
import { bucketOf } from '../config';

/**
 * `meshloop doctor`'s Iceberg checks: the REST catalog with Meshloop's credentials and warehouse
 * (config read, namespaces listed), and the object store of the warehouse (a probe object written,
 * read back and deleted with the AWS SDK's S3 client).
 */

export async function checkIcebergCatalog(config: MeshloopConfig): Promise<string> {
  const catalog = IcebergCatalogClient.of(config.iceberg, 10_000);
  const answer = await catalog.config();
  const settings = { ...answer.defaults, ...answer.overrides };
  const namespaces = await catalog.listNamespaces();
  const auth = config.iceberg.auth;
  return [
    'config read',
    settings.warehouse ? `warehouse ${settings.warehouse}` : undefined,
    settings.prefix ? `prefix ${settings.prefix}` : undefined,
    `${namespaces.length} namespace(s)`,
    auth ? (auth.kind === 'token' ? 'bearer token' : 'OAuth2 client-credentials token') : undefined,
  ]
    .filter(Boolean)
    .join(', ');
}

export function icebergFix(message: string, config: MeshloopConfig): string {
  const { catalogUrl, auth } = config.iceberg;
  if (/OAuth2TokenRequestFailed/.test(message) || /oauth\/tokens|token endpoint/i.test(message)) {
    return 'the token endpoint gave no token: check MESHLOOP_ICEBERG_CLIENT_ID, MESHLOOP_ICEBERG_CLIENT_SECRET, MESHLOOP_ICEBERG_OAUTH2_SERVER_URI and MESHLOOP_ICEBERG_OAUTH2_SCOPE';
  }
  if (/\b(401|403)\b/.test(message)) {
    return auth
      ? `the catalog refused the credentials: check ${auth.kind === 'token' ? 'MESHLOOP_ICEBERG_TOKEN' : 'MESHLOOP_ICEBERG_CLIENT_ID and MESHLOOP_ICEBERG_CLIENT_SECRET (and MESHLOOP_ICEBERG_OAUTH2_SCOPE)'}`
      : 'the catalog wants credentials: set MESHLOOP_ICEBERG_CLIENT_ID and MESHLOOP_ICEBERG_CLIENT_SECRET (OAuth2 client credentials) or MESHLOOP_ICEBERG_TOKEN';
  }
  if (/\b404\b/.test(message) && config.iceberg.warehouse) {
    return `the catalog knows no warehouse '${config.iceberg.warehouse}' (or no REST catalog is at ${catalogUrl}): check MESHLOOP_ICEBERG_WAREHOUSE and MESHLOOP_ICEBERG_REST_URL`;
  }
  return `the Iceberg REST catalog does not answer usably at ${catalogUrl} (${message.slice(0, 80)}): set MESHLOOP_ICEBERG_REST_URL (the local platform: MESHLOOP_ICEBERG_REST_PORT, \`meshloop stack up\`)`;
}

/** Where the warehouse's files go: an s3:// warehouse setting, else the catalog's own warehouse. */
async function warehouseLocation(config: MeshloopConfig): Promise<string | undefined> {
  if (bucketOf(config.iceberg.warehouse)) return config.iceberg.warehouse;
  const answer = await IcebergCatalogClient.of(config.iceberg, 10_000)
    .config()
    .catch(() => undefined);
  const warehouse = answer?.overrides.warehouse ?? answer?.defaults.warehouse;
  return bucketOf(warehouse) ? warehouse : undefined;
}

/** The object store to check: configured, or an s3:// warehouse (credentials from the AWS SDK's chain). */
export function objectStoreOf(config: MeshloopConfig): ObjectStoreConnection | undefined {
  if (config.iceberg.objectStore) return config.iceberg.objectStore;
  return bucketOf(config.iceberg.warehouse) ? { region: 'us-east-1', pathStyle: false } : undefined;
}

export function objectStoreTarget(store: ObjectStoreConnection): string {
  return store.endpoint ?? `AWS S3 (${store.region})`;
}

export async function checkObjectStore(
  config: MeshloopConfig,
  store: ObjectStoreConnection,
): Promise<string> {
  const warehouse = await warehouseLocation(config);
  const bucket = bucketOf(warehouse);
  if (!warehouse || !bucket) {
    throw new Error(
      'no s3:// warehouse to probe: MESHLOOP_ICEBERG_WAREHOUSE is not an s3://bucket/path location and the catalog names none',
    );
  }
  const prefix = warehouse.replace(/^s3[an]?:\/\/[^/]+\/?/, '').replace(/([^/])$/, '$1/');
  const key = `${prefix}.meshloop-doctor/${randomUUID()}`;
  const client = new S3Client({
    region: store.region,
    forcePathStyle: store.pathStyle,
    ...(store.endpoint ? { endpoint: store.endpoint } : {}),
    ...(store.accessKeyId && store.secretAccessKey
      ? {
          credentials: {
            accessKeyId: store.accessKeyId,
            secretAccessKey: store.secretAccessKey,
            ...(store.sessionToken ? { sessionToken: store.sessionToken } : {}),
          },
        }
      : {}),
    // Checksums only where S3 requires them: S3-compatible servers differ in the newer ones.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 1,
  });
  const body = `meshloop doctor probe ${new Date().toISOString()}`;
  try {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    const read = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const text = await read.Body?.transformToString();
    if (text !== body) throw new Error(`s3://${bucket}/${key} read back differs from what was written`);
    await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
  } catch (error) {
    const name = (error as { name?: string }).name;
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(`${name && !message.startsWith(name) ? `${name}: ` : ''}${message} (bucket ${bucket})`, {
      cause: error,
    });
  } finally {
    client.destroy();
  }
  return `s3://${bucket}/${key} written, read and deleted`;
}

export function objectStoreFix(message: string, store: ObjectStoreConnection): string {
  const bucket = /\(bucket ([^)]+)\)/.exec(message)?.[1];
  if (/NoSuchBucket|bucket does not exist/i.test(message)) {
    return `the bucket '${bucket}' does not exist on ${objectStoreTarget(store)}: create it, or fix MESHLOOP_ICEBERG_WAREHOUSE (s3://<bucket>/<path>) or AWS_ENDPOINT_URL_S3`;
  }
  if (/InvalidAccessKeyId|unknown access key|AWS Access Key Id/i.test(message)) {
    return 'the object store does not know the access key: check AWS_ACCESS_KEY_ID (and AWS_SECRET_ACCESS_KEY)';
  }
  if (/SignatureDoesNotMatch|signature/i.test(message)) {
    return 'the object store refused the signature: check AWS_SECRET_ACCESS_KEY (and AWS_REGION)';
  }
  if (/AccessDenied|Forbidden|\b403\b/i.test(message)) {
    return `the credentials may not write, read and delete objects in '${bucket}': grant s3:PutObject, s3:GetObject and s3:DeleteObject under the warehouse, or check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY`;
  }
  if (/no s3:\/\/ warehouse/.test(message)) {
    return 'set MESHLOOP_ICEBERG_WAREHOUSE to the warehouse location (s3://<bucket>/<path>) so the probe knows its bucket';
  }
  if (/credential/i.test(message)) {
    return 'no credentials for the object store: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY';
  }
  return `no object store answers usably at ${objectStoreTarget(store)}: check AWS_ENDPOINT_URL_S3, MESHLOOP_S3_PATH_STYLE and AWS_REGION`;
}
