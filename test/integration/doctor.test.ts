import assert from 'node:assert/strict';
import type { Check } from '../../src/cli/doctor';
import { testPlatform } from '../helpers/platform';
import { runCli } from '../helpers/processes';

type Report = { ok: boolean; checks: Check[] };

function parse(stdout: string): Report {
  return JSON.parse(stdout) as Report;
}

describe('meshloop doctor (the test platform)', function () {
  this.timeout(120_000);

  before(async function () {
    this.timeout(15 * 60_000); // a cold first run downloads and builds
    await testPlatform();
  });

  it('passes every check against the platform, each with its real client', async () => {
    const result = await runCli(['doctor', '--json']);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    const report = parse(result.stdout);
    assert.equal(report.ok, true);
    assert.deepEqual(
      report.checks.map((c) => [c.name, c.ok]),
      [
        ['temporal', true],
        ['kafka', true],
        ['schema-registry', true],
        ['flink-sql-gateway', true],
        ['flink-rest', true],
        ['iceberg-catalog', true],
      ],
    );
    const by = new Map(report.checks.map((c) => [c.name, c]));
    assert.match(by.get('temporal')!.detail, /namespace 'default' described/);
    assert.match(by.get('kafka')!.detail, /cluster \S+: 1 broker\(s\), \d+ topic\(s\)/);
    assert.match(by.get('schema-registry')!.detail, /^\d+ subject\(s\)$/);
    assert.match(by.get('flink-sql-gateway')!.detail, /session opened and closed/);
    assert.match(by.get('flink-rest')!.detail, /Flink 1\.20\.\d+: 1 TaskManager/);
    assert.match(by.get('iceberg-catalog')!.detail, /config read, \d+ namespace\(s\)/);
  });

  it('fails with what to fix, naming the setting: a closed Kafka port, an unknown namespace, a wrong gateway URL', async () => {
    const result = await runCli(['doctor', '--json'], {
      MESHLOOP_KAFKA_BROKERS: '127.0.0.1:1',
      TEMPORAL_NAMESPACE: 'no-such-namespace',
      MESHLOOP_FLINK_SQL_GATEWAY_URL: 'http://127.0.0.1:1',
    });
    assert.equal(result.code, 1, result.stdout + result.stderr);
    const report = parse(result.stdout);
    assert.equal(report.ok, false);
    const by = new Map(report.checks.map((c) => [c.name, c]));
    const temporal = by.get('temporal')!;
    assert.equal(temporal.ok, false);
    assert.match(temporal.detail, /no-such-namespace/);
    assert.match(temporal.fix!, /TEMPORAL_NAMESPACE/);
    const kafka = by.get('kafka')!;
    assert.equal(kafka.ok, false);
    assert.match(kafka.detail, /ECONNREFUSED/);
    assert.match(kafka.fix!, /MESHLOOP_KAFKA_BROKERS/);
    const gateway = by.get('flink-sql-gateway')!;
    assert.equal(gateway.ok, false);
    assert.match(gateway.fix!, /MESHLOOP_FLINK_SQL_GATEWAY_URL/);
    // The others still pass: one wrong setting fails its own check only.
    assert.equal(by.get('flink-rest')!.ok, true);
    assert.equal(by.get('iceberg-catalog')!.ok, true);
  });

  it('prints one line per check, with the fix under a failed one', async () => {
    const result = await runCli(['doctor'], { MESHLOOP_KAFKA_BROKERS: '127.0.0.1:1' });
    assert.equal(result.code, 1);
    const lines = result.stdout.trim().split('\n');
    assert.equal(lines.filter((line) => /^(ok {2}|FAIL) /.test(line)).length, 6);
    assert.match(
      result.stdout,
      /^FAIL kafka +127\.0\.0\.1:1: .*\n +fix: no Kafka broker answers at 127\.0\.0\.1:1: set MESHLOOP_KAFKA_BROKERS/m,
    );
  });

  it('a wrong TLS setting fails the Temporal check: the dev server offers no TLS', async () => {
    const result = await runCli(['doctor', '--json'], { TEMPORAL_TLS: 'true' });
    assert.equal(result.code, 1, result.stdout + result.stderr);
    const temporal = parse(result.stdout).checks.find((c) => c.name === 'temporal')!;
    assert.equal(temporal.ok, false);
    assert.match(
      temporal.fix!,
      /TLS is on \(TEMPORAL_TLS.*offers no TLS: point TEMPORAL_ADDRESS .*TEMPORAL_TLS=false/,
    );
  });
});
