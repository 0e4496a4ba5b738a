import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { kafkaSecurity } from '../../src/adapters/kafka/client';
import { flinkRequest } from '../../src/adapters/flink/http';
import { ConfigError, loadConfig, temporalConnectOptions } from '../../src/config';
import type { Setting } from '../../src/config/describe';
import { describeSettings, mask } from '../../src/config/describe';
import { redact } from '../../src/log';
import { serviceEnvironment } from '../../src/stack/process';

const root = path.resolve(__dirname, '..', '..');

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'meshloop-config-'));
}

function configError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  assert.fail('expected a ConfigError');
}

function setting(settings: readonly Setting[], key: string): Setting {
  const found = settings.find((s) => s.key === key);
  assert.ok(found, `no setting ${key}`);
  return found;
}

describe('configuration: connections', () => {
  let dir: string;
  beforeEach(() => (dir = tempDir()));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const file = (name: string, text: string) => {
    const at = path.join(dir, name);
    fs.writeFileSync(at, text);
    return at;
  };

  it('defaults to the local platform, plaintext and without credentials, frozen', () => {
    const config = loadConfig({});
    assert.deepEqual(config.temporal.connection, { address: '127.0.0.1:7233' });
    assert.equal(config.temporal.namespace, 'default');
    assert.deepEqual(temporalConnectOptions(config.temporal.connection), { address: '127.0.0.1:7233' });
    assert.deepEqual(config.kafka, { brokers: ['127.0.0.1:9092'] });
    assert.deepEqual(kafkaSecurity(config.kafka), {});
    assert.equal(config.flink.restUrl, 'http://127.0.0.1:8081');
    assert.equal(config.flink.sqlGatewayUrl, 'http://127.0.0.1:8083');
    assert.equal(config.flink.headers, undefined);
    assert.ok(Object.isFrozen(config.temporal.connection) && Object.isFrozen(config.kafka.brokers));
    // The local ports still move everything, as the tests' offset needs.
    const shifted = loadConfig({ MESHLOOP_TEMPORAL_PORT: '17233', MESHLOOP_KAFKA_PORT: '19092' });
    assert.equal(shifted.temporal.address, '127.0.0.1:17233');
    assert.deepEqual(shifted.kafka.brokers, ['127.0.0.1:19092']);
  });

  it('reads a Temporal profile file with mTLS paths and an API key; TEMPORAL_* variables win field by field', () => {
    const ca = file('ca.pem', 'CA PEM');
    const cert = file('client.pem', 'CERT PEM');
    const key = file('client.key', 'KEY PEM');
    const toml = file(
      'temporal.toml',
      [
        '[profile.default]',
        'address = "localhost:7233"',
        '',
        '[profile.prod]',
        'address = "prod.tmprl.example:7233"',
        'namespace = "mesh.acct"',
        'api_key = "sekret-api-key"',
        '[profile.prod.tls]',
        `server_ca_cert_path = "${ca}"`,
        `client_cert_path = "${cert}"`,
        `client_key_path = "${key}"`,
        'server_name = "prod.tmprl.example"',
        '[profile.prod.grpc_meta]',
        'x-team = "data"',
      ].join('\n'),
    );
    const env = { TEMPORAL_CONFIG_FILE: toml, TEMPORAL_PROFILE: 'prod' };
    const config = loadConfig(env);
    assert.equal(config.temporal.address, 'prod.tmprl.example:7233');
    assert.equal(config.temporal.namespace, 'mesh.acct');
    assert.equal(config.stack.temporal.namespace, 'mesh.acct');
    assert.deepEqual(config.temporal.connection, {
      address: 'prod.tmprl.example:7233',
      apiKey: 'sekret-api-key',
      tls: {
        serverName: 'prod.tmprl.example',
        serverCaCert: { path: ca },
        clientCert: { path: cert },
        clientKey: { path: key },
      },
      metadata: { 'x-team': 'data' },
    });
    const options = temporalConnectOptions(config.temporal.connection);
    assert.equal(options.apiKey, 'sekret-api-key');
    assert.ok(typeof options.tls === 'object');
    assert.equal(options.tls.serverNameOverride, 'prod.tmprl.example');
    assert.equal(Buffer.from(options.tls.serverRootCACertificate!).toString(), 'CA PEM');
    assert.equal(Buffer.from(options.tls.clientCertPair!.crt).toString(), 'CERT PEM');
    assert.equal(Buffer.from(options.tls.clientCertPair!.key).toString(), 'KEY PEM');

    const overridden = loadConfig({ ...env, TEMPORAL_NAMESPACE: 'other', TEMPORAL_TLS_SERVER_NAME: 'alt' });
    assert.equal(overridden.temporal.namespace, 'other');
    const tls = overridden.temporal.connection.tls;
    assert.ok(typeof tls === 'object' && tls.serverName === 'alt' && tls.serverCaCert !== undefined);

    const settings = describeSettings(env);
    assert.equal(setting(settings, 'temporal.address').source, 'Temporal profile');
    assert.match(setting(settings, 'temporal.address').detail ?? '', /temporal\.toml \[prod\]/);
    assert.equal(setting(settings, 'temporal.apiKey').value, mask);
    assert.doesNotMatch(JSON.stringify(settings), /sekret-api-key/);
    const fromEnv = describeSettings({ ...env, TEMPORAL_NAMESPACE: 'other' });
    assert.deepEqual(
      { ...setting(fromEnv, 'temporal.namespace') },
      { key: 'temporal.namespace', value: 'other', source: 'environment', secret: false },
    );
  });

  it('does not read the default profile file unless asked, so the local platform stays the default', () => {
    const home = tempDir();
    try {
      fs.mkdirSync(path.join(home, '.config', 'temporalio'), { recursive: true });
      fs.writeFileSync(
        path.join(home, '.config', 'temporalio', 'temporal.toml'),
        '[profile.default]\naddress = "cloud.example:7233"\n',
      );
      assert.equal(loadConfig({ HOME: home }).temporal.address, '127.0.0.1:7233');
      assert.equal(
        loadConfig({ HOME: home, TEMPORAL_PROFILE: 'default' }).temporal.address,
        'cloud.example:7233',
      );
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  });

  it('an API key alone turns TLS on, as for the Temporal CLI; TEMPORAL_TLS=false turns it off', () => {
    const config = loadConfig({ TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233', TEMPORAL_API_KEY: 'k' });
    assert.equal(config.temporal.connection.tls, true);
    assert.deepEqual(temporalConnectOptions(config.temporal.connection), {
      address: 'ns.acct.tmprl.cloud:7233',
      apiKey: 'k',
      tls: true,
    });
    const plain = loadConfig({ TEMPORAL_ADDRESS: 'h:7233', TEMPORAL_API_KEY: 'k', TEMPORAL_TLS: 'false' });
    assert.equal(plain.temporal.connection.tls, false);
  });

  it('builds kafkajs TLS and SASL (PLAIN, SCRAM, OAUTHBEARER) from the settings', async () => {
    const caPem = '-----BEGIN CERTIFICATE-----\nKAFKA CA\n-----END CERTIFICATE-----';
    const certPem = '-----BEGIN CERTIFICATE-----\nKAFKA CERT\n-----END CERTIFICATE-----';
    const keyPem = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      .privateKey.export({ type: 'sec1', format: 'pem' })
      .toString();
    const ca = file('kafka-ca.pem', caPem);
    const cert = file('kafka.pem', certPem);
    const key = file('kafka.key', keyPem);
    const config = loadConfig({
      MESHLOOP_KAFKA_BROKERS: 'b1.example:9093, b2.example:9093',
      MESHLOOP_KAFKA_TLS_CA_FILE: ca,
      MESHLOOP_KAFKA_TLS_CERT_FILE: cert,
      MESHLOOP_KAFKA_TLS_KEY_FILE: key,
      MESHLOOP_KAFKA_SASL_MECHANISM: 'scram-sha-512',
      MESHLOOP_KAFKA_SASL_USERNAME: 'meshloop',
      MESHLOOP_KAFKA_SASL_PASSWORD: 'pw',
    });
    assert.deepEqual(config.kafka.brokers, ['b1.example:9093', 'b2.example:9093']);
    assert.equal(config.flink.kafka.bootstrapServers, 'b1.example:9093,b2.example:9093');
    assert.deepEqual(kafkaSecurity(config.kafka), {
      ssl: { ca: caPem, cert: certPem, key: keyPem },
      sasl: { mechanism: 'scram-sha-512', username: 'meshloop', password: 'pw' },
    });
    const plain = loadConfig({
      MESHLOOP_KAFKA_TLS: 'true',
      MESHLOOP_KAFKA_SASL_MECHANISM: 'plain',
      MESHLOOP_KAFKA_SASL_USERNAME: 'u',
      MESHLOOP_KAFKA_SASL_PASSWORD: 'p',
    });
    assert.deepEqual(kafkaSecurity(plain.kafka), {
      ssl: true,
      sasl: { mechanism: 'plain', username: 'u', password: 'p' },
    });
    const oauth = kafkaSecurity(
      loadConfig({
        MESHLOOP_KAFKA_SASL_MECHANISM: 'oauthbearer',
        MESHLOOP_KAFKA_SASL_OAUTH_TOKEN: 'tok',
        MESHLOOP_FLINK_KAFKA_PROPERTIES: '{"sasl.jaas.config":"x required;"}',
      }).kafka,
    );
    assert.equal(oauth.sasl?.mechanism, 'oauthbearer');
    const provider = (oauth.sasl as { oauthBearerProvider: () => Promise<unknown> }).oauthBearerProvider;
    assert.deepEqual(await provider(), { value: 'tok' });
  });

  it('sends the Flink headers on every request to the gateway and REST API', async () => {
    const config = loadConfig({
      MESHLOOP_FLINK_SQL_GATEWAY_URL: 'https://gw.example/flink/',
      MESHLOOP_FLINK_HTTP_HEADERS: '{"Authorization":"Bearer abc","X-Tenant":"mesh"}',
    });
    assert.equal(config.flink.sqlGatewayUrl, 'https://gw.example/flink');
    assert.deepEqual(config.flink.headers, { Authorization: 'Bearer abc', 'X-Tenant': 'mesh' });
    const seen: http.IncomingHttpHeaders[] = [];
    const server = http.createServer((request, response) => {
      seen.push(request.headers);
      response.end('{}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      await flinkRequest('rest', 'GET', `http://127.0.0.1:${port}/overview`, {
        headers: config.flink.headers,
      });
      await flinkRequest('sql-gateway', 'POST', `http://127.0.0.1:${port}/v3/sessions`, {
        body: {},
        headers: config.flink.headers,
      });
    } finally {
      server.close();
    }
    assert.equal(seen.length, 2);
    for (const headers of seen) {
      assert.equal(headers.authorization, 'Bearer abc');
      assert.equal(headers['x-tenant'], 'mesh');
    }
    assert.equal(seen[1]!['content-type'], 'application/json');
  });

  it('lists every wrong key in one message', () => {
    const error = configError(() =>
      loadConfig({
        MESHLOOP_TEMPORAL_PORT: 'seven',
        MESHLOOP_KAFKA_BROKERS: 'no port here',
        MESHLOOP_KAFKA_TLS_CA_FILE: path.join(dir, 'missing-ca.pem'),
        MESHLOOP_KAFKA_SASL_MECHANISM: 'scram-sha-512',
        MESHLOOP_KAFKA_SASL_USERNAME: 'meshloop',
        MESHLOOP_FLINK_REST_URL: 'not a url',
        MESHLOOP_FLINK_HTTP_HEADERS: '["Authorization"]',
        TEMPORAL_CONFIG_FILE: path.join(dir, 'missing.toml'),
        TEMPORAL_TLS_CLIENT_CERT_PATH: file('only-cert.pem', 'x'),
      }),
    );
    const keys = error.problems.map((problem) => problem.split(':')[0]);
    for (const key of [
      'MESHLOOP_TEMPORAL_PORT',
      'MESHLOOP_KAFKA_BROKERS',
      'MESHLOOP_KAFKA_TLS_CA_FILE',
      'MESHLOOP_KAFKA_SASL_PASSWORD',
      'MESHLOOP_FLINK_REST_URL',
      'MESHLOOP_FLINK_HTTP_HEADERS',
      'TEMPORAL_CONFIG_FILE',
      'TEMPORAL_TLS_CLIENT_CERT_PATH, TEMPORAL_TLS_CLIENT_KEY_PATH',
    ]) {
      assert.ok(keys.includes(key), `${key} missing from:\n${error.message}`);
    }
    assert.match(error.message, /^Invalid configuration:\n {2}- /);
  });

  it('names TEMPORAL_PROFILE when the profile is not in the file, and refuses SASL settings without a mechanism', () => {
    const toml = file('t.toml', '[profile.default]\naddress = "h:1"\n');
    const error = configError(() =>
      loadConfig({
        TEMPORAL_CONFIG_FILE: toml,
        TEMPORAL_PROFILE: 'nope',
        MESHLOOP_KAFKA_SASL_PASSWORD: 'pw',
      }),
    );
    assert.match(error.message, /TEMPORAL_PROFILE: Profile 'nope' not found/);
    assert.match(
      error.message,
      /MESHLOOP_KAFKA_SASL_PASSWORD: set, but MESHLOOP_KAFKA_SASL_MECHANISM is not/,
    );
    assert.doesNotMatch(error.message, /pw/);
  });

  it('masks every secret in `describeSettings`, and logs redact the new secret fields', () => {
    const secrets = {
      MESHLOOP_KAFKA_SASL_MECHANISM: 'plain',
      MESHLOOP_KAFKA_SASL_USERNAME: 'meshloop',
      MESHLOOP_KAFKA_SASL_PASSWORD: 'kafka-secret-1',
      MESHLOOP_FLINK_HTTP_HEADERS: '{"Authorization":"Bearer flink-secret-2"}',
      TEMPORAL_API_KEY: 'temporal-secret-3',
      TEMPORAL_GRPC_META_AUTHORIZATION: 'meta-secret-4',
      OPENAI_API_KEY: 'openai-secret-5',
      MESHLOOP_SLACK_BOT_TOKEN: 'slack-secret-6',
      MESHLOOP_SLACK_SIGNING_SECRET: 'slack-secret-7',
    };
    const settings = describeSettings(secrets);
    const text = JSON.stringify(settings);
    for (const value of Object.values(secrets).filter((v) => /secret/.test(v))) {
      assert.ok(!text.includes(value), `${value} shown`);
    }
    assert.equal(setting(settings, 'MESHLOOP_KAFKA_SASL_PASSWORD').value, mask);
    assert.equal(setting(settings, 'MESHLOOP_KAFKA_SASL_PASSWORD').source, 'environment');
    assert.equal(setting(settings, 'MESHLOOP_KAFKA_SASL_USERNAME').value, 'meshloop');
    assert.equal(setting(settings, 'MESHLOOP_TEMPORAL_PORT').source, 'default');
    assert.equal(setting(settings, 'flink.headers').value, 'Authorization');
    // The registry's password, and credentials written into its URL, are masked too.
    const registry = describeSettings({
      MESHLOOP_SCHEMA_REGISTRY_USER: 'registry',
      MESHLOOP_SCHEMA_REGISTRY_PASSWORD: 'registry-secret-8',
      MESHLOOP_SCHEMA_REGISTRY_URL: 'https://registry:url-secret-9@registry.example.com/apis/ccompat/v7',
    });
    assert.ok(!/registry-secret-8|url-secret-9/.test(JSON.stringify(registry)), 'a registry secret shown');
    assert.equal(
      setting(registry, 'MESHLOOP_SCHEMA_REGISTRY_URL').value,
      `https://${mask}@registry.example.com/apis/ccompat/v7`,
    );
    // The services `stack up` starts inherit none of them.
    assert.deepEqual(
      Object.keys(
        serviceEnvironment({ ...secrets, TEMPORAL_TLS_CLIENT_KEY_DATA: 'pem', PATH: '/bin' }),
      ).sort(),
      ['MESHLOOP_KAFKA_SASL_MECHANISM', 'MESHLOOP_KAFKA_SASL_USERNAME', 'PATH'],
    );
    assert.deepEqual(redact({ headers: { Authorization: 'x' }, sasl: { password: 'y' } }), {
      headers: '[redacted]',
      sasl: '[redacted]',
    });
  });

  it('`meshloop config --json` loads .env from the working directory; the environment wins over it', () => {
    fs.writeFileSync(
      path.join(dir, '.env'),
      [
        '# a comment',
        'MESHLOOP_KAFKA_BROKERS=k1.example:9092,k2.example:9092',
        'MESHLOOP_KAFKA_SASL_MECHANISM=scram-sha-256',
        'MESHLOOP_KAFKA_SASL_USERNAME=from-dotenv',
        'MESHLOOP_KAFKA_SASL_PASSWORD=dotenv-secret',
        'MESHLOOP_TASK_QUEUE=from-dotenv',
        'TEMPORAL_NAMESPACE=dotenv-ns',
      ].join('\n'),
    );
    const env: NodeJS.ProcessEnv = {};
    for (const [key, value] of Object.entries(process.env)) {
      if (!key.startsWith('MESHLOOP_') && !key.startsWith('TEMPORAL_')) env[key] = value;
    }
    const result = spawnSync(path.join(root, 'bin', 'meshloop'), ['config', '--json'], {
      cwd: dir,
      encoding: 'utf8',
      env: { ...env, MESHLOOP_TASK_QUEUE: 'from-env' },
    });
    assert.equal(result.status, 0, result.stderr);
    const { settings } = JSON.parse(result.stdout) as { settings: Setting[] };
    const dotenv = path.join(fs.realpathSync(dir), '.env');
    const brokers = setting(settings, 'MESHLOOP_KAFKA_BROKERS');
    assert.equal(brokers.value, 'k1.example:9092,k2.example:9092');
    assert.equal(brokers.source, '.env');
    assert.equal(fs.realpathSync(brokers.detail!), dotenv);
    assert.equal(setting(settings, 'MESHLOOP_KAFKA_SASL_PASSWORD').value, mask);
    assert.deepEqual(
      {
        value: setting(settings, 'MESHLOOP_TASK_QUEUE').value,
        source: setting(settings, 'MESHLOOP_TASK_QUEUE').source,
      },
      { value: 'from-env', source: 'environment' },
    );
    assert.equal(setting(settings, 'temporal.namespace').value, 'dotenv-ns');
    assert.equal(setting(settings, 'temporal.namespace').source, '.env');
    assert.equal(setting(settings, 'kafka.sasl').value, 'scram-sha-256');
    assert.ok(!result.stdout.includes('dotenv-secret'));
  });
});

describe('configuration: your own platform instead of the local stack', () => {
  let dir: string;
  beforeEach(() => (dir = tempDir()));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const remoteProfile = [
    'TEMPORAL_ADDRESS=temporal.example.com:7233',
    'TEMPORAL_NAMESPACE=mesh',
    'MESHLOOP_KAFKA_BROKERS=b1.example.com:9093',
    'MESHLOOP_FLINK_SQL_GATEWAY_URL=https://flink-sql.example.com',
    'MESHLOOP_FLINK_REST_URL=https://flink.example.com',
    'MESHLOOP_SCHEMA_REGISTRY_URL=https://registry.example.com',
    'MESHLOOP_ICEBERG_REST_URL=https://iceberg.example.com/catalog',
  ];

  /** The environment without any MESHLOOP_* or TEMPORAL_* setting of the machine running the tests. */
  function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = {};
    for (const [key, value] of Object.entries(process.env)) {
      if (!key.startsWith('MESHLOOP_') && !key.startsWith('TEMPORAL_')) env[key] = value;
    }
    return { ...env, MESHLOOP_DATA_DIR: path.join(dir, 'data'), ...extra };
  }

  it('names each local service a setting points elsewhere, with the setting', () => {
    const config = loadConfig({
      HOME: dir,
      TEMPORAL_ADDRESS: 'temporal.example.com:7233',
      MESHLOOP_KAFKA_BROKERS: 'b1.example.com:9093',
    });
    assert.deepEqual(Object.keys(config.stack.elsewhere).sort(), ['kafka', 'temporal']);
    assert.deepEqual(config.stack.elsewhere.kafka, {
      setting: 'MESHLOOP_KAFKA_BROKERS',
      address: 'b1.example.com:9093',
    });
    assert.equal(config.stack.elsewhere.temporal?.setting, 'TEMPORAL_ADDRESS');
    assert.deepEqual(loadConfig({ HOME: dir }).stack.elsewhere, {});
  });

  it('`stack up` with a remote profile starts nothing and says why; `stack up <service>` of one elsewhere is refused', () => {
    const profile = path.join(dir, 'remote.env');
    fs.writeFileSync(profile, remoteProfile.join('\n'));
    const up = spawnSync(path.join(root, 'bin', 'meshloop'), ['stack', 'up'], {
      cwd: dir,
      encoding: 'utf8',
      env: cleanEnv({ MESHLOOP_PROFILE: profile }),
    });
    assert.equal(up.status, 0, up.stderr);
    const said = up.stdout + up.stderr;
    assert.match(said, /nothing to start/);
    assert.match(
      said,
      /kafka: not started, your own platform's at b1\.example\.com:9093 \(MESHLOOP_KAFKA_BROKERS\)/,
    );
    assert.match(
      said,
      /temporal: not started, your own platform's at temporal\.example\.com:7233 \(TEMPORAL_ADDRESS\)/,
    );
    assert.ok(!fs.existsSync(path.join(dir, 'data', 'run')), 'no process was started');

    const one = spawnSync(path.join(root, 'bin', 'meshloop'), ['stack', 'up', 'kafka'], {
      cwd: dir,
      encoding: 'utf8',
      env: cleanEnv({ MESHLOOP_PROFILE: profile }),
    });
    assert.notEqual(one.status, 0);
    assert.match(
      one.stderr,
      /kafka is your own platform's \(MESHLOOP_KAFKA_BROKERS: b1\.example\.com:9093\).*unset MESHLOOP_KAFKA_BROKERS/,
    );
  });

  it('MESHLOOP_PROFILE names the file loaded instead of .env, and a missing one is an error that names it', () => {
    fs.writeFileSync(path.join(dir, '.env'), 'MESHLOOP_TASK_QUEUE=from-dotenv\n');
    const profile = path.join(dir, 'team.env');
    fs.writeFileSync(profile, 'MESHLOOP_TASK_QUEUE=from-profile\n');
    const run = (file: string) =>
      spawnSync(path.join(root, 'bin', 'meshloop'), ['config', '--json'], {
        cwd: dir,
        encoding: 'utf8',
        env: cleanEnv({ MESHLOOP_PROFILE: file }),
      });
    const ok = run(profile);
    assert.equal(ok.status, 0, ok.stderr);
    const { settings } = JSON.parse(ok.stdout) as { settings: Setting[] };
    assert.equal(setting(settings, 'MESHLOOP_TASK_QUEUE').value, 'from-profile');
    const missing = run(path.join(dir, 'nope.env'));
    assert.notEqual(missing.status, 0);
    assert.match(missing.stderr, /MESHLOOP_PROFILE: no such file .*nope\.env/);
  });
});
