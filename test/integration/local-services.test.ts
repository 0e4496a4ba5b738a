import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { FlinkRequestError, FlinkStatementError } from '../../src/adapters/flink';
import type { MeshloopConfig } from '../../src/config';
import { FlinkTestContext } from '../helpers/flink';
import { testPlatform } from '../helpers/platform';

/** Every address of this machine that is not loopback (IPv4 and IPv6, link-local aside). */
function otherAddresses(): string[] {
  return Object.values(os.networkInterfaces())
    .flat()
    .filter((info): info is os.NetworkInterfaceInfo => info !== undefined && !info.internal)
    .filter((info) => !info.address.startsWith('fe80'))
    .map((info) => info.address);
}

function connects(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, timeout: 2000 });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('timeout', () => (socket.destroy(), resolve(false)));
    socket.once('error', () => resolve(false));
  });
}

/** The local addresses of listening TCP sockets on `port`, from /proc/net/tcp and tcp6 (hex). */
function listeningAddresses(port: number): string[] {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  return ['/proc/net/tcp', '/proc/net/tcp6'].flatMap((file) =>
    fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .slice(1)
      .map((line) => line.trim().split(/\s+/))
      .filter((cols) => cols[1]?.endsWith(`:${hexPort}`) && cols[3] === '0A')
      .map((cols) => cols[1]!.split(':')[0]!),
  );
}

// 127.0.0.1 in /proc/net/tcp (little-endian hex), and as an IPv4-mapped IPv6 address in tcp6.
const LOOPBACK_HEX = new Set([
  '0100007F',
  '0000000000000000FFFF00000100007F',
  '00000000000000000000000001000000',
]);

describe('local services: reachable from this machine only, and blind to its secrets', function () {
  this.timeout(180_000);
  let config: MeshloopConfig;

  before(async function () {
    this.timeout(15 * 60_000);
    config = await testPlatform();
  });

  describe('the Iceberg REST catalog', () => {
    it('answers on 127.0.0.1 and listens on loopback only', async () => {
      const port = config.stack.iceberg.port;
      const response = await fetch(`http://127.0.0.1:${port}/v1/config`);
      assert.equal(response.status, 200);
      const listening = listeningAddresses(port);
      assert.ok(listening.length > 0, `nothing listens on ${port}`);
      assert.deepEqual(
        listening.filter((address) => !LOOPBACK_HEX.has(address)),
        [],
        `the catalog listens beyond loopback: ${listening.join(', ')}`,
      );
    });

    it("does not answer on the machine's other addresses: no config, no namespace created or dropped", async () => {
      const port = config.stack.iceberg.port;
      const addresses = otherAddresses();
      assert.ok(addresses.length > 0, 'this machine has no non-loopback address to try');
      for (const address of addresses) {
        assert.equal(await connects(address, port), false, `the catalog answers on ${address}:${port}`);
        const host = address.includes(':') ? `[${address}]` : address;
        for (const [method, route, body] of [
          ['GET', '/v1/config', undefined],
          ['POST', '/v1/namespaces', JSON.stringify({ namespace: ['intruder'] })],
          ['DELETE', '/v1/namespaces/meshloop/tables/x?purgeRequested=true', undefined],
        ] as const) {
          const outcome = await fetch(`http://${host}:${port}${route}`, {
            method,
            ...(body ? { body, headers: { 'content-type': 'application/json' } } : {}),
            signal: AbortSignal.timeout(3000),
          }).then(
            (reply) => `answered ${reply.status}`,
            () => 'refused',
          );
          assert.equal(outcome, 'refused', `${method} ${route} on ${address}`);
        }
      }
    });
  });

  describe('the Flink REST API', () => {
    it('refuses jar upload, listing and run', async () => {
      const rest = `http://127.0.0.1:${config.stack.flink.restPort}`;
      assert.equal((await fetch(`${rest}/overview`)).status, 200);
      const form = new FormData();
      form.append(
        'jarfile',
        new Blob([Buffer.from('PK\u0005\u0006' + '\0'.repeat(18), 'binary')]),
        'evil.jar',
      );
      const upload = await fetch(`${rest}/jars/upload`, { method: 'POST', body: form });
      assert.notEqual(upload.status, 200);
      assert.ok(upload.status >= 400, `upload answered ${upload.status}`);
      for (const [method, route] of [
        ['GET', '/jars'],
        ['POST', '/jars/evil.jar/run'],
        ['GET', '/jars/evil.jar/plan'],
        ['DELETE', '/jars/evil.jar'],
      ] as const) {
        const reply = await fetch(`${rest}${route}`, { method });
        assert.ok(reply.status >= 400, `${method} ${route} answered ${reply.status}`);
      }
      const uploads = path.join(config.stack.dataDir, 'flink-jobmanager', 'tmp', 'web', 'no-uploads');
      const stored = fs.existsSync(uploads)
        ? (fs.readdirSync(uploads, { recursive: true }) as string[]).filter((name) => name.endsWith('.jar'))
        : [];
      assert.deepEqual(stored, []);
    });
  });

  describe('the Flink SQL Gateway cannot read secrets', () => {
    let flink: FlinkTestContext;
    const made: string[] = [];
    beforeEach(() => {
      flink = new FlinkTestContext(config);
    });
    afterEach(async () => {
      await flink.cleanUp();
      for (const file of made.splice(0)) await fsp.rm(file, { force: true });
    });

    /** Read a file through a `filesystem` table; the rows, or the failure's text. */
    async function readThroughFlink(file: string): Promise<string> {
      const session = await flink.openSession('secret-reader');
      const table = `t_${randomBytes(4).toString('hex')}`;
      await session.execute(
        `CREATE TEMPORARY TABLE ${table} (line STRING) WITH ('connector' = 'filesystem', 'path' = 'file://${file}', 'format' = 'raw')`,
      );
      try {
        const operation = await session.submit(`SELECT line FROM ${table}`, {
          executionConfig: { 'execution.runtime-mode': 'batch' },
        });
        const rows: string[] = [];
        for await (const page of session.results(operation, 'SELECT line', Date.now() + 90_000)) {
          flink.track(page.jobId);
          rows.push(...page.rows.map((row) => String(row.fields[0])));
        }
        return rows.join('\n');
      } catch (failure) {
        if (failure instanceof FlinkStatementError || failure instanceof FlinkRequestError)
          return `failed: ${failure.message}`;
        throw failure;
      }
    }

    async function writeSecret(dir: string): Promise<{ file: string; marker: string }> {
      const marker = `secret-${randomBytes(12).toString('hex')}`;
      const file = path.join(dir, `r19-canary-${randomBytes(4).toString('hex')}.json`);
      await fsp.writeFile(file, `${marker}\n`, { mode: 0o600 });
      made.push(file);
      return { file, marker };
    }

    it('reads a plain file of the data folder (the control: the table does read files)', async () => {
      const { file, marker } = await writeSecret(config.stack.dataDir);
      assert.match(await readThroughFlink(file), new RegExp(marker));
    });

    it('does not read a 0600 key file in the signing key folder, even one written after start', async () => {
      const keyDir = path.dirname(config.signing.keyFile);
      assert.ok(config.stack.hidden.dirs.includes(keyDir), `${keyDir} is not among the hidden folders`);
      const { file, marker } = await writeSecret(keyDir);
      assert.doesNotMatch(await readThroughFlink(file), new RegExp(marker));
    });

    it("no service sees the worker's /proc (its environment: payload keys, Slack secret) nor the key folder", async () => {
      const { file } = await writeSecret(path.dirname(config.signing.keyFile));
      const runDir = path.join(config.stack.dataDir, 'run');
      const records = (await fsp.readdir(runDir)).filter((name) => name.endsWith('.json'));
      assert.ok(records.length >= 5, `run records: ${records.join(', ')}`);
      for (const record of records) {
        const { pid } = JSON.parse(await fsp.readFile(path.join(runDir, record), 'utf8')) as { pid: number };
        // The recorded process is `unshare`; the service is its child, in the new namespaces.
        const children = (await fsp.readFile(`/proc/${pid}/task/${pid}/children`, 'utf8'))
          .trim()
          .split(/\s+/);
        const service = Number(children[0]);
        assert.ok(service > 0, `${record}: no child of ${pid}`);
        const root = `/proc/${service}/root`;
        assert.notEqual(fs.readlinkSync(`/proc/${service}/ns/pid`), fs.readlinkSync('/proc/self/ns/pid'));
        // Control: the service's own view of the file system and of /proc is there to look at.
        assert.ok(fs.existsSync(`${root}/proc/1/status`), `${record}: no /proc/1 in its view`);
        assert.ok(fs.existsSync(`${root}${config.stack.dataDir}`), `${record}: no data folder in its view`);
        assert.equal(fs.existsSync(`/proc/${process.pid}/environ`), true);
        assert.equal(
          fs.existsSync(`${root}/proc/${process.pid}/environ`),
          false,
          `${record} sees our environ`,
        );
        assert.equal(fs.existsSync(file), true);
        assert.equal(fs.existsSync(`${root}${file}`), false, `${record} sees the key folder`);
      }
    });
  });
});
