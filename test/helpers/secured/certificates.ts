import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** A test CA and a server certificate it signed, for localhost and 127.0.0.1; PEM files in `dir`. */
export type TestCertificates = Readonly<{
  caFile: string;
  serverCertFile: string;
  serverKeyFile: string;
  /** The server's key and certificate chain in one file (Kafka's PEM keystore). */
  serverKeystoreFile: string;
  /** A second CA that signed nothing here: a client trusting it must refuse the server. */
  otherCaFile: string;
}>;

function openssl(args: readonly string[], cwd: string): void {
  execFileSync('openssl', [...args], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function makeCa(dir: string, name: string, subject: string): void {
  openssl(
    [
      'req',
      '-x509',
      '-new',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-sha256',
      '-days',
      '3',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.crt`,
      '-subj',
      subject,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
}

/** Made with the machine's `openssl` (Debian: package openssl), in a second or two. */
export function makeTestCertificates(dir: string): TestCertificates {
  fs.mkdirSync(dir, { recursive: true });
  makeCa(dir, 'ca', '/CN=Meshloop secured test CA');
  makeCa(dir, 'other-ca', '/CN=Some other CA');
  openssl(
    [
      'req',
      '-new',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'server.key',
      '-out',
      'server.csr',
      '-subj',
      '/CN=localhost',
    ],
    dir,
  );
  fs.writeFileSync(
    path.join(dir, 'server.ext'),
    [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '',
    ].join('\n'),
  );
  openssl(
    [
      'x509',
      '-req',
      '-in',
      'server.csr',
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-sha256',
      '-days',
      '3',
      '-extfile',
      'server.ext',
      '-out',
      'server.crt',
    ],
    dir,
  );
  const file = (name: string) => path.join(dir, name);
  fs.writeFileSync(
    file('server-keystore.pem'),
    fs.readFileSync(file('server.key'), 'utf8') + fs.readFileSync(file('server.crt'), 'utf8'),
  );
  return {
    caFile: file('ca.crt'),
    serverCertFile: file('server.crt'),
    serverKeyFile: file('server.key'),
    serverKeystoreFile: file('server-keystore.pem'),
    otherCaFile: file('other-ca.crt'),
  };
}
