import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { probeTls, splitAddress } from '../../src/cli/tls-probe';
import type { TestCertificates } from '../helpers/secured/certificates';
import { makeTestCertificates } from '../helpers/secured/certificates';

/** What a TLS handshake shows doctor, against a Node TLS server and a plaintext one on loopback. */
describe('TLS probe (doctor diagnoses a failed connection)', () => {
  let dir: string;
  let certs: TestCertificates;
  let tlsServer: tls.Server;
  let plainServer: net.Server;
  let tlsAddress: string;
  let plainAddress: string;

  const listen = (server: net.Server) =>
    new Promise<string>((resolve) =>
      server.listen(0, '127.0.0.1', () => resolve(`127.0.0.1:${(server.address() as AddressInfo).port}`)),
    );

  before(async function () {
    this.timeout(30_000);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshloop-tls-probe-'));
    certs = makeTestCertificates(dir);
    tlsServer = tls.createServer({
      cert: fs.readFileSync(certs.serverCertFile),
      key: fs.readFileSync(certs.serverKeyFile),
    });
    tlsServer.on('secureConnection', (socket) => socket.end());
    // Speaks something else: answers and hangs up, as a plaintext Kafka or HTTP server does.
    plainServer = net.createServer((socket) => socket.end('HTTP/1.1 400 Bad Request\r\n\r\n'));
    tlsAddress = await listen(tlsServer);
    plainAddress = await listen(plainServer);
  });

  after(() => {
    tlsServer?.close();
    plainServer?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('trusts a server whose certificate the CA signed, for the name it carries', async () => {
    const ca = fs.readFileSync(certs.caFile);
    assert.deepEqual(await probeTls(tlsAddress, { ca }), { kind: 'trusted' });
    assert.deepEqual(await probeTls(tlsAddress, { ca, servername: 'localhost' }), { kind: 'trusted' });
  });

  it('tells a CA that did not sign it, and a name it does not carry', async () => {
    const other = fs.readFileSync(certs.otherCaFile);
    assert.deepEqual(await probeTls(tlsAddress, { ca: other }), {
      kind: 'untrusted',
      code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    });
    const wrongName = await probeTls(tlsAddress, {
      ca: fs.readFileSync(certs.caFile),
      servername: 'kafka.example.com',
    });
    assert.equal(wrongName.kind, 'wrong-name');
  });

  it('tells a server that offers no TLS, and a port nobody listens on', async () => {
    assert.deepEqual(await probeTls(plainAddress), { kind: 'no-tls' });
    const closed = net.createServer();
    const address = await listen(closed);
    await new Promise((resolve) => closed.close(resolve));
    assert.deepEqual(await probeTls(address), { kind: 'unreachable', code: 'ECONNREFUSED' });
  });

  it('splits host:port, IPv6 in brackets', () => {
    assert.deepEqual(splitAddress('broker.example.com:9093'), { host: 'broker.example.com', port: 9093 });
    assert.deepEqual(splitAddress('[::1]:7233'), { host: '::1', port: 7233 });
  });
});
