import assert from 'node:assert/strict';
import { attachSql, icebergSecretSql, s3SecretSql } from '../../src/adapters/duckdb/attach';
import { ConfigError, loadConfig } from '../../src/config';
import { describeSettings, mask } from '../../src/config/describe';
import { redact } from '../../src/log';
import { serviceEnvironment } from '../../src/stack/process';
import { scrubSecrets } from '../../src/domain/flink-types';
import { flinkIcebergCatalogProperties, flinkSessionSecrets } from '../../src/materialize/flink-catalog';
import { materializationSetupStatements } from '../../src/materialize/flink-sql';
import { materializationPlanOf } from '../../src/domain/materialization';
import { parseSpec } from '../../src/domain/spec';

const base = { HOME: '/tmp/meshloop-home' };

function problems(env: NodeJS.ProcessEnv): string[] {
  try {
    loadConfig({ ...base, ...env });
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
  return [];
}

const secured = {
  ...base,
  MESHLOOP_ICEBERG_REST_URL: 'https://catalog.example.com/api/catalog/',
  MESHLOOP_ICEBERG_WAREHOUSE: 'analytics',
  MESHLOOP_ICEBERG_CLIENT_ID: 'meshloop',
  MESHLOOP_ICEBERG_CLIENT_SECRET: 'client-secret-1',
  AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9000',
  AWS_REGION: 'eu-west-1',
  AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE',
  AWS_SECRET_ACCESS_KEY: 's3-secret-1',
};

describe('Iceberg catalog and object-store settings', () => {
  it('defaults to the local catalog with no credentials and no object store', () => {
    const config = loadConfig(base);
    assert.deepEqual(config.iceberg, { catalogUrl: 'http://127.0.0.1:8181' });
    assert.equal(config.flink.icebergCatalogUri, 'http://127.0.0.1:8181');
  });

  it('reads the catalog URL, warehouse, OAuth2 client credentials (Iceberg defaults) and the AWS_* object store', () => {
    const config = loadConfig(secured);
    assert.deepEqual(config.iceberg, {
      catalogUrl: 'https://catalog.example.com/api/catalog',
      warehouse: 'analytics',
      auth: {
        kind: 'oauth2',
        clientId: 'meshloop',
        clientSecret: 'client-secret-1',
        serverUri: 'https://catalog.example.com/api/catalog/v1/oauth/tokens',
        scope: 'catalog',
      },
      objectStore: {
        endpoint: 'http://127.0.0.1:9000',
        region: 'eu-west-1',
        pathStyle: true,
        accessKeyId: 'AKIAEXAMPLE',
        secretAccessKey: 's3-secret-1',
      },
    });
    // Flink reaches the same catalog unless told otherwise.
    assert.equal(config.flink.icebergCatalogUri, 'https://catalog.example.com/api/catalog');
  });

  it('takes a bearer token, a token endpoint and scope, AWS fallbacks and MESHLOOP_S3_PATH_STYLE', () => {
    const config = loadConfig({
      ...base,
      MESHLOOP_ICEBERG_TOKEN: 'tok',
      AWS_DEFAULT_REGION: 'us-west-2',
      AWS_ENDPOINT_URL: 'https://s3.example.com',
      MESHLOOP_S3_PATH_STYLE: 'false',
    });
    assert.deepEqual(config.iceberg.auth, { kind: 'token', token: 'tok' });
    assert.deepEqual(config.iceberg.objectStore, {
      endpoint: 'https://s3.example.com',
      region: 'us-west-2',
      pathStyle: false,
    });
    const oauth = loadConfig({
      ...secured,
      MESHLOOP_ICEBERG_OAUTH2_SERVER_URI: 'https://idp.example.com/token',
      MESHLOOP_ICEBERG_OAUTH2_SCOPE: 'PRINCIPAL_ROLE:ALL',
    });
    assert.equal(
      oauth.iceberg.auth?.kind === 'oauth2' && oauth.iceberg.auth.serverUri,
      'https://idp.example.com/token',
    );
    assert.equal(oauth.iceberg.auth?.kind === 'oauth2' && oauth.iceberg.auth.scope, 'PRINCIPAL_ROLE:ALL');
    // AWS S3 itself: virtual-hosted style, no endpoint.
    assert.deepEqual(loadConfig({ ...base, AWS_REGION: 'eu-central-1' }).iceberg.objectStore, {
      region: 'eu-central-1',
      pathStyle: false,
    });
  });

  it('names each wrong setting', () => {
    assert.deepEqual(problems({ MESHLOOP_ICEBERG_CLIENT_ID: 'x' }), [
      'MESHLOOP_ICEBERG_CLIENT_SECRET: OAuth2 client credentials need both MESHLOOP_ICEBERG_CLIENT_ID and MESHLOOP_ICEBERG_CLIENT_SECRET',
    ]);
    assert.match(
      problems({
        MESHLOOP_ICEBERG_CLIENT_ID: 'x',
        MESHLOOP_ICEBERG_CLIENT_SECRET: 'y',
        MESHLOOP_ICEBERG_TOKEN: 't',
      })[0]!,
      /^MESHLOOP_ICEBERG_TOKEN: set either a bearer token or OAuth2 client credentials/,
    );
    assert.deepEqual(problems({ MESHLOOP_ICEBERG_OAUTH2_SCOPE: 'catalog' }), [
      'MESHLOOP_ICEBERG_OAUTH2_SCOPE: set, but MESHLOOP_ICEBERG_CLIENT_ID is not',
    ]);
    assert.deepEqual(problems({ AWS_ACCESS_KEY_ID: 'AKIA' }), [
      'AWS_SECRET_ACCESS_KEY: object-store credentials need both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY',
    ]);
    assert.match(
      problems({ MESHLOOP_ICEBERG_REST_URL: 'the catalog' })[0]!,
      /^MESHLOOP_ICEBERG_REST_URL: must be a URL/,
    );
    assert.match(
      problems({ MESHLOOP_S3_PATH_STYLE: 'maybe' })[0]!,
      /^MESHLOOP_S3_PATH_STYLE: must be true or false/,
    );
  });

  it('`meshloop config` masks the secrets and shows what they resolve to', () => {
    const settings = describeSettings({ ...secured, AWS_SESSION_TOKEN: 'session-1' });
    const value = (key: string) => settings.find((setting) => setting.key === key)?.value;
    for (const key of ['MESHLOOP_ICEBERG_CLIENT_SECRET', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN']) {
      assert.equal(value(key), mask, key);
    }
    assert.equal(value('AWS_ACCESS_KEY_ID'), 'AKIAEXAMPLE');
    assert.match(
      value('iceberg.auth')!,
      /^OAuth2 client credentials \(client meshloop, token endpoint https:/,
    );
    assert.equal(
      value('objectStore'),
      'endpoint http://127.0.0.1:9000, region eu-west-1, path-style, key AKIAEXAMPLE',
    );
    const text = JSON.stringify(settings);
    for (const secret of ['client-secret-1', 's3-secret-1', 'session-1']) assert.ok(!text.includes(secret));
  });

  it('keeps the secrets out of logs and of the local services’ environment', () => {
    assert.deepEqual(
      serviceEnvironment({
        AWS_SECRET_ACCESS_KEY: 's',
        AWS_SESSION_TOKEN: 't',
        MESHLOOP_ICEBERG_CLIENT_SECRET: 'c',
        AWS_REGION: 'r',
      }),
      {
        AWS_REGION: 'r',
      },
    );
    const config = loadConfig(secured);
    const logged = JSON.stringify(redact({ iceberg: config.iceberg }));
    assert.ok(!logged.includes('client-secret-1') && !logged.includes('s3-secret-1'));
  });
});

describe('Iceberg credentials for Flink and DuckDB', () => {
  const config = loadConfig(secured);

  it("Flink's CREATE CATALOG: REST with OAuth2 credential, warehouse, S3FileIO on the object store", () => {
    assert.deepEqual(flinkIcebergCatalogProperties('http://flink-sees-catalog:8181', config.iceberg), {
      type: 'iceberg',
      'catalog-type': 'rest',
      uri: 'http://flink-sees-catalog:8181',
      warehouse: 'analytics',
      credential: 'meshloop:client-secret-1',
      'oauth2-server-uri': 'https://catalog.example.com/api/catalog/v1/oauth/tokens',
      scope: 'catalog',
      'io-impl': 'org.apache.iceberg.aws.s3.S3FileIO',
      's3.endpoint': 'http://127.0.0.1:9000',
      's3.path-style-access': 'true',
      'client.region': 'eu-west-1',
      's3.access-key-id': 'AKIAEXAMPLE',
      's3.secret-access-key': 's3-secret-1',
    });
    assert.deepEqual(flinkIcebergCatalogProperties('http://c', { auth: { kind: 'token', token: 't0k' } }), {
      type: 'iceberg',
      'catalog-type': 'rest',
      uri: 'http://c',
      token: 't0k',
    });
    const spec = parseSpec({
      name: 'orders_s3',
      domain: 'sales',
      owner: 'alice',
      kind: 'source-aligned',
      outputTopic: { partitions: 1 },
      schema: { fields: [{ name: 'id', type: 'string', nullable: false }], key: ['id'] },
    });
    const plan = materializationPlanOf(spec, 1, config.materialize);
    const [catalog] = materializationSetupStatements(plan, {
      kafka: { bootstrapServers: 'k:9092', properties: {} },
      icebergCatalogUri: 'http://c',
      icebergCatalog: config.iceberg,
    });
    assert.match(
      catalog!,
      /^CREATE CATALOG `lake` WITH \('type' = 'iceberg', 'catalog-type' = 'rest', 'uri' = 'http:\/\/c', 'warehouse' = 'analytics', 'credential' = 'meshloop:client-secret-1'/,
    );
    // The gateway client scrubs these from every error of the session.
    const secrets = flinkSessionSecrets(config);
    assert.equal(
      scrubSecrets(catalog!, secrets).includes('client-secret-1') ||
        scrubSecrets(catalog!, secrets).includes('s3-secret-1'),
      false,
    );
    assert.match(scrubSecrets("'credential'='meshloop:client-secret-1'", secrets), /'credential'='\*{4}'/);
  });

  it('DuckDB: an s3 secret for the object store, an iceberg secret for the catalog, ATTACH of the warehouse', () => {
    assert.equal(
      s3SecretSql('meshloop_s3', config.iceberg.objectStore!),
      "CREATE TEMPORARY SECRET meshloop_s3 (TYPE s3, PROVIDER config, KEY_ID 'AKIAEXAMPLE', SECRET 's3-secret-1', REGION 'eu-west-1', ENDPOINT '127.0.0.1:9000', USE_SSL false, URL_STYLE 'path')",
    );
    assert.equal(
      icebergSecretSql('meshloop_iceberg', config.iceberg),
      "CREATE TEMPORARY SECRET meshloop_iceberg (TYPE iceberg, CLIENT_ID 'meshloop', CLIENT_SECRET 'client-secret-1', OAUTH2_SERVER_URI 'https://catalog.example.com/api/catalog/v1/oauth/tokens', OAUTH2_SCOPE 'catalog')",
    );
    assert.equal(
      attachSql('lake', config.iceberg, true),
      "ATTACH 'analytics' AS lake (TYPE iceberg, ENDPOINT 'https://catalog.example.com/api/catalog', SECRET meshloop_iceberg, ACCESS_DELEGATION_MODE 'none', READ_ONLY)",
    );
    // The local platform: as before.
    assert.equal(
      attachSql('lake', { catalogUrl: 'http://127.0.0.1:8181' }, false),
      "ATTACH 'warehouse' AS lake (TYPE iceberg, ENDPOINT 'http://127.0.0.1:8181', AUTHORIZATION_TYPE 'none')",
    );
    assert.equal(icebergSecretSql('s', { catalogUrl: 'x' }), undefined);
    // A location as the warehouse name: DuckDB would attach it read-only, so the writer says so.
    assert.match(
      attachSql('lake', { ...config.iceberg, warehouse: 's3://lakehouse/wh' }, false),
      /^ATTACH 's3:\/\/lakehouse\/wh' AS lake \(.*, READ_ONLY false\)$/,
    );
    assert.match(
      s3SecretSql('s', { endpoint: 'https://s3.example.com', region: 'r', pathStyle: false }),
      /ENDPOINT 's3\.example\.com', USE_SSL true, URL_STYLE 'vhost'\)$/,
    );
  });
});
