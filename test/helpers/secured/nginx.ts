import { createHash, randomBytes } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { which } from '../../../src/stack/install';
import type { Server } from './servers';
import { startServer, waitUntilReady } from './servers';

/**
 * nginx from Debian's packages as the secured platform's TLS front: `apt-get download nginx` and
 * `dpkg -x` into the cache, no install and no root needed (only apt's package lists; on a machine
 * without them, `apt-get update` first). Debian's build has http2, grpc_pass, ssl and auth_basic.
 */
export function ensureNginx(cacheDir: string): string {
  const home = path.join(cacheDir, 'nginx-debian');
  const binary = path.join(home, 'usr', 'sbin', 'nginx');
  if (fs.existsSync(path.join(home, '.complete'))) return binary;
  if (!which('apt-get') || !which('dpkg')) {
    throw new Error(
      'the secured test platform needs nginx from Debian packages: apt-get and dpkg are missing',
    );
  }
  fs.rmSync(home, { recursive: true, force: true });
  const download = fs.mkdtempSync(path.join(os.tmpdir(), 'meshloop-nginx-'));
  try {
    const got = spawnSync('apt-get', ['download', 'nginx'], { cwd: download, encoding: 'utf8' });
    const deb = fs.readdirSync(download).find((file) => file.endsWith('.deb'));
    if (!deb) {
      throw new Error(
        `\`apt-get download nginx\` failed (${got.stderr.trim().split('\n').pop()}): run \`apt-get update\` once, then the tests again`,
      );
    }
    execFileSync('dpkg', ['-x', path.join(download, deb), home]);
  } finally {
    fs.rmSync(download, { recursive: true, force: true });
  }
  execFileSync(binary, ['-V'], { stdio: 'ignore' });
  fs.writeFileSync(path.join(home, '.complete'), new Date().toISOString());
  return binary;
}

/** An htpasswd line nginx's auth_basic reads (salted SHA-1, `{SSHA}`). */
export function htpasswdLine(user: string, password: string): string {
  const salt = randomBytes(8);
  const digest = createHash('sha1').update(password).update(salt).digest();
  return `${user}:{SSHA}${Buffer.concat([digest, salt]).toString('base64')}\n`;
}

export type TlsFront = Readonly<{
  /** TLS + HTTP/2 (ALPN h2) in front of a plaintext gRPC server (Temporal's frontend). */
  grpc: { listenPort: number; upstreamPort: number };
  /** TLS + HTTP basic auth in front of a plaintext HTTP server (the Schema Registry). */
  http: { listenPort: number; upstreamPort: number; user: string; password: string };
  certFile: string;
  keyFile: string;
}>;

function config(dir: string, front: TlsFront): string {
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((kind) => `  ${kind}_temp_path ${path.join(dir, 'temp', kind)};`)
    .join('\n');
  // As root, nginx's workers run as `user` (default nobody, who could not read the htpasswd file).
  const user = process.getuid?.() === 0 ? 'user root root;\n' : '';
  return `${user}daemon off;
master_process on;
worker_processes 1;
pid ${path.join(dir, 'nginx.pid')};
error_log ${path.join(dir, 'error.log')} warn;
events { worker_connections 256; }
http {
  access_log off;
${temp}
  ssl_certificate ${front.certFile};
  ssl_certificate_key ${front.keyFile};
  ssl_protocols TLSv1.2 TLSv1.3;
  server {
    listen 127.0.0.1:${front.grpc.listenPort} ssl http2;
    client_max_body_size 0;
    location / {
      grpc_pass grpc://127.0.0.1:${front.grpc.upstreamPort};
      # Workers long-poll for tasks (about a minute per call).
      grpc_read_timeout 300s;
      grpc_send_timeout 300s;
    }
  }
  server {
    listen 127.0.0.1:${front.http.listenPort} ssl;
    client_max_body_size 16m;
    location / {
      auth_basic "schema registry";
      auth_basic_user_file ${path.join(dir, 'htpasswd')};
      proxy_set_header Authorization "";
      proxy_pass http://127.0.0.1:${front.http.upstreamPort};
    }
  }
}
`;
}

export async function startTlsFront(binary: string, dir: string, front: TlsFront): Promise<Server> {
  fs.mkdirSync(path.join(dir, 'temp'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'htpasswd'), htpasswdLine(front.http.user, front.http.password), {
    mode: 0o600,
  });
  const conf = path.join(dir, 'nginx.conf');
  fs.writeFileSync(conf, config(dir, front));
  const server = startServer('nginx', binary, ['-p', dir, '-c', conf, '-e', path.join(dir, 'error.log')], {
    logFile: path.join(dir, 'nginx.log'),
  });
  await waitUntilReady(server, () => Promise.resolve(fs.existsSync(path.join(dir, 'nginx.pid'))), 15_000);
  return server;
}
