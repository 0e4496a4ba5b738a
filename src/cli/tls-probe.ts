import tls from 'node:tls';

/**
 * What a TLS handshake with an endpoint shows, so doctor can say which TLS setting is wrong instead
 * of "connection failed": the server speaks no TLS there, speaks it with a certificate the
 * configured CA did not sign, or with one that names another host.
 */
export type TlsProbe =
  | { kind: 'trusted' }
  | { kind: 'untrusted'; code: string }
  | { kind: 'wrong-name'; detail: string }
  | { kind: 'no-tls' }
  | { kind: 'unreachable'; code: string };

const untrustedCodes = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_SIGNATURE_FAILURE',
]);

const unreachableCodes = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ENETUNREACH']);

/** `host:port` (a URL's host too); IPv6 literals in brackets. */
export function splitAddress(address: string): { host: string; port: number } {
  const match = /^\[?([^\]]+?)\]?:(\d+)$/.exec(address.trim());
  return match ? { host: match[1]!, port: Number(match[2]) } : { host: address, port: 443 };
}

export function probeTls(
  address: string,
  options: { ca?: string | Uint8Array; servername?: string; timeoutMs?: number } = {},
): Promise<TlsProbe> {
  const { host, port } = splitAddress(address);
  const servername = options.servername ?? (/^[\d.]+$|:/.test(host) ? undefined : host);
  return new Promise((resolve) => {
    const socket = tls.connect({
      host,
      port,
      ...(servername ? { servername } : {}),
      ...(options.ca ? { ca: [...tls.rootCertificates, Buffer.from(options.ca).toString()] } : {}),
      // The name is checked against the server name the client would send (or the host).
      checkServerIdentity: (_, cert) => tls.checkServerIdentity(servername ?? host, cert),
      ALPNProtocols: ['h2', 'http/1.1'],
      rejectUnauthorized: true,
    });
    const done = (result: TlsProbe) => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(options.timeoutMs ?? 3000, () => done({ kind: 'no-tls' }));
    socket.once('secureConnect', () => done({ kind: 'trusted' }));
    socket.once('error', (error: NodeJS.ErrnoException) => {
      const code = error.code ?? '';
      if (untrustedCodes.has(code)) done({ kind: 'untrusted', code });
      else if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') done({ kind: 'wrong-name', detail: error.message });
      else if (unreachableCodes.has(code)) done({ kind: 'unreachable', code });
      else done({ kind: 'no-tls' });
    });
  });
}
