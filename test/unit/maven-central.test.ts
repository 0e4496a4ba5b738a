import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import {
  downloadFromMavenCentral,
  MavenDownloadError,
  mavenCentralUrl,
  mavenFileName,
} from '../../src/stack/maven-central';

const registry = {
  groupId: 'io.apicurio',
  artifactId: 'apicurio-registry-app',
  version: '3.3.3',
  classifier: 'all',
  extension: 'tar.gz',
} as const;

describe('one file from Maven Central without Maven', () => {
  let server: Server;
  let baseUrl: string;
  let dir: string;
  /** What the stand-in Central serves, by path. */
  const files = new Map<string, string | Buffer>();

  before(async () => {
    server = createServer((request, response) => {
      const body = files.get(request.url ?? '');
      if (body === undefined) response.writeHead(404).end();
      else response.writeHead(200).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/maven2`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshloop-maven-central-'));
    files.clear();
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const serve = (content: Buffer, sha1: string) => {
    const route = new URL(mavenCentralUrl(registry, baseUrl)).pathname;
    files.set(route, content);
    files.set(`${route}.sha1`, sha1);
  };

  it('names files as Maven does: group path, version, classifier, extension', () => {
    assert.equal(mavenFileName(registry), 'apicurio-registry-app-3.3.3-all.tar.gz');
    assert.equal(
      mavenCentralUrl({ groupId: 'org.apache.iceberg', artifactId: 'iceberg-open-api', version: '1.10.1' }),
      'https://repo.maven.apache.org/maven2/org/apache/iceberg/iceberg-open-api/1.10.1/iceberg-open-api-1.10.1.jar',
    );
  });

  it('downloads the file when its SHA-1 is the one Central lists', async () => {
    const content = Buffer.from('a registry, packed');
    // Central's .sha1 files sometimes carry the file name after the hash.
    serve(content, `${createHash('sha1').update(content).digest('hex')}  ${mavenFileName(registry)}\n`);
    const target = path.join(dir, 'lib', mavenFileName(registry));
    await downloadFromMavenCentral({ file: registry, target, baseUrl });
    assert.deepEqual(fs.readFileSync(target), content);
    assert.deepEqual(fs.readdirSync(path.dirname(target)), [mavenFileName(registry)], 'no partial file left');
  });

  it('refuses a file whose SHA-1 differs, leaving nothing behind', async () => {
    serve(Buffer.from('altered on the way'), createHash('sha1').update('the real one').digest('hex'));
    const target = path.join(dir, mavenFileName(registry));
    await assert.rejects(
      downloadFromMavenCentral({ file: registry, target, baseUrl }),
      (error: unknown) =>
        error instanceof MavenDownloadError &&
        /SHA-1 [0-9a-f]{40}, but Maven Central lists/.test(error.message),
    );
    assert.deepEqual(fs.readdirSync(dir), []);
  });

  it('fails (for the Maven fallback) on a missing file, a missing or malformed checksum, or no server', async () => {
    const target = path.join(dir, mavenFileName(registry));
    await assert.rejects(downloadFromMavenCentral({ file: registry, target, baseUrl }), /HTTP 404/);
    serve(Buffer.from('x'), 'not a checksum');
    await assert.rejects(downloadFromMavenCentral({ file: registry, target, baseUrl }), /not a SHA-1/);
    await assert.rejects(
      downloadFromMavenCentral({ file: registry, target, baseUrl: 'http://127.0.0.1:1/maven2' }),
      MavenDownloadError,
    );
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});
