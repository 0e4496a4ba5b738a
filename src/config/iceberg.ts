import { z } from 'zod';

/**
 * The Iceberg REST catalog and the S3-compatible object store its warehouse lives on. All optional:
 * without them, the local platform's catalog (its warehouse a local folder, no credentials).
 *
 * The object store uses the AWS SDK's own variables where they exist (AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION / AWS_DEFAULT_REGION, AWS_ENDPOINT_URL_S3 /
 * AWS_ENDPOINT_URL); path-style addressing, which the AWS SDKs set in code only, is MESHLOOP_S3_PATH_STYLE.
 */

const optionalText = z
  .string()
  .trim()
  .transform((value) => (value === '' ? undefined : value))
  .optional();

const url = (example: string) => optionalText.pipe(z.url(`must be a URL like ${example}`).optional());

export const icebergEnvShape = {
  MESHLOOP_ICEBERG_REST_URL: url('https://catalog.example.com/api/catalog'),
  MESHLOOP_ICEBERG_WAREHOUSE: optionalText,
  MESHLOOP_ICEBERG_CLIENT_ID: optionalText,
  MESHLOOP_ICEBERG_CLIENT_SECRET: optionalText,
  MESHLOOP_ICEBERG_OAUTH2_SERVER_URI: url('https://catalog.example.com/api/catalog/v1/oauth/tokens'),
  MESHLOOP_ICEBERG_OAUTH2_SCOPE: optionalText,
  MESHLOOP_ICEBERG_TOKEN: optionalText,
  AWS_ENDPOINT_URL_S3: url('http://127.0.0.1:9000'),
  AWS_ENDPOINT_URL: url('http://127.0.0.1:9000'),
  AWS_REGION: optionalText,
  AWS_DEFAULT_REGION: optionalText,
  AWS_ACCESS_KEY_ID: optionalText,
  AWS_SECRET_ACCESS_KEY: optionalText,
  AWS_SESSION_TOKEN: optionalText,
  MESHLOOP_S3_PATH_STYLE: optionalText.pipe(
    z.enum(['true', 'false', '1', '0'], { message: 'must be true or false' }).optional(),
  ),
};

/** Settings `meshloop config` masks (besides those named *SECRET / *TOKEN). */
export const icebergSecretKeys = ['AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN'] as const;

type IcebergEnv = z.infer<z.ZodObject<typeof icebergEnvShape>>;

/** How Meshloop authenticates to the catalog. Has secrets. */
export type IcebergAuth = Readonly<
  | { kind: 'token'; token: string }
  | {
      kind: 'oauth2';
      clientId: string;
      clientSecret: string;
      /** The token endpoint: MESHLOOP_ICEBERG_OAUTH2_SERVER_URI or `<catalog>/v1/oauth/tokens`. */
      serverUri: string;
      scope: string;
    }
>;

/** An S3-compatible object store (AWS S3 itself when no endpoint is set). Has secrets. */
export type ObjectStoreConnection = Readonly<{
  /** e.g. http://127.0.0.1:9000; absent: AWS S3. */
  endpoint?: string;
  region: string;
  pathStyle: boolean;
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
}>;

export type IcebergConnection = Readonly<{
  /** The REST catalog's base URL (the one before `/v1/config`). */
  catalogUrl: string;
  /** The warehouse asked for on `/v1/config` (a name or a location, as the catalog wants it). */
  warehouse?: string;
  auth?: IcebergAuth;
  /** Present when any object-store setting is: the warehouse's files are on S3. */
  objectStore?: ObjectStoreConnection;
}>;

export function resolveIceberg(e: IcebergEnv, localUrl: string, problems: string[]): IcebergConnection {
  const catalogUrl = (e.MESHLOOP_ICEBERG_REST_URL ?? localUrl).replace(/\/+$/, '');
  const auth = resolveAuth(e, catalogUrl, problems);
  const objectStore = resolveObjectStore(e, problems);
  return {
    catalogUrl,
    ...(e.MESHLOOP_ICEBERG_WAREHOUSE ? { warehouse: e.MESHLOOP_ICEBERG_WAREHOUSE } : {}),
    ...(auth ? { auth } : {}),
    ...(objectStore ? { objectStore } : {}),
  };
}

function resolveAuth(e: IcebergEnv, catalogUrl: string, problems: string[]): IcebergAuth | undefined {
  const { MESHLOOP_ICEBERG_CLIENT_ID: clientId, MESHLOOP_ICEBERG_CLIENT_SECRET: clientSecret } = e;
  const token = e.MESHLOOP_ICEBERG_TOKEN;
  if ((clientId === undefined) !== (clientSecret === undefined)) {
    problems.push(
      `${clientId === undefined ? 'MESHLOOP_ICEBERG_CLIENT_ID' : 'MESHLOOP_ICEBERG_CLIENT_SECRET'}: ` +
        'OAuth2 client credentials need both MESHLOOP_ICEBERG_CLIENT_ID and MESHLOOP_ICEBERG_CLIENT_SECRET',
    );
  }
  if (clientId !== undefined && token !== undefined) {
    problems.push(
      'MESHLOOP_ICEBERG_TOKEN: set either a bearer token or OAuth2 client credentials (MESHLOOP_ICEBERG_CLIENT_ID), not both',
    );
  }
  if (clientId === undefined) {
    for (const key of ['MESHLOOP_ICEBERG_OAUTH2_SERVER_URI', 'MESHLOOP_ICEBERG_OAUTH2_SCOPE'] as const) {
      if (e[key] !== undefined) problems.push(`${key}: set, but MESHLOOP_ICEBERG_CLIENT_ID is not`);
    }
  }
  if (token !== undefined) return { kind: 'token', token };
  if (clientId === undefined || clientSecret === undefined) return undefined;
  return {
    kind: 'oauth2',
    clientId,
    clientSecret,
    serverUri: e.MESHLOOP_ICEBERG_OAUTH2_SERVER_URI ?? `${catalogUrl}/v1/oauth/tokens`,
    // Iceberg's own default scope.
    scope: e.MESHLOOP_ICEBERG_OAUTH2_SCOPE ?? 'catalog',
  };
}

function resolveObjectStore(e: IcebergEnv, problems: string[]): ObjectStoreConnection | undefined {
  const endpoint = (e.AWS_ENDPOINT_URL_S3 ?? e.AWS_ENDPOINT_URL)?.replace(/\/+$/, '');
  const region = e.AWS_REGION ?? e.AWS_DEFAULT_REGION;
  const { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey } = e;
  const set = [endpoint, region, accessKeyId, secretAccessKey, e.AWS_SESSION_TOKEN, e.MESHLOOP_S3_PATH_STYLE];
  if (set.every((value) => value === undefined)) return undefined;
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
    problems.push(
      `${accessKeyId === undefined ? 'AWS_ACCESS_KEY_ID' : 'AWS_SECRET_ACCESS_KEY'}: ` +
        'object-store credentials need both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY',
    );
  }
  return {
    ...(endpoint ? { endpoint } : {}),
    // S3-compatible servers mostly ignore the region, but every signature names one.
    region: region ?? 'us-east-1',
    // A custom endpoint (MinIO, S3Proxy, Ceph...) rarely has per-bucket DNS names: path style by default.
    pathStyle: pathStyleOf(e.MESHLOOP_S3_PATH_STYLE, endpoint),
    ...(accessKeyId ? { accessKeyId } : {}),
    ...(secretAccessKey ? { secretAccessKey } : {}),
    ...(e.AWS_SESSION_TOKEN ? { sessionToken: e.AWS_SESSION_TOKEN } : {}),
  };
}

function pathStyleOf(flag: string | undefined, endpoint: string | undefined): boolean {
  return flag === undefined ? endpoint !== undefined : ['true', '1'].includes(flag);
}

/** The bucket of an `s3://bucket/...` location (also s3a:// and s3n://); undefined for other schemes. */
export function bucketOf(location: string | undefined): string | undefined {
  return location ? /^s3[an]?:\/\/([^/]+)/.exec(location)?.[1] : undefined;
}
