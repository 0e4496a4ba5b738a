import fs from 'node:fs';
import { registryAddress } from '../adapters/schema-registry/client';
import type { MeshloopConfig } from '../config';
import { temporalConnectOptions } from '../config';
import type { TlsProbe } from './tls-probe';
import { probeTls } from './tls-probe';

/**
 * What doctor tells a user to fix when a check fails: the setting to change, found from the error
 * and, for connection failures, from a TLS handshake with the endpoint (does it speak TLS at all,
 * does the configured CA trust it, does its certificate carry the name).
 */

const speaksTls = (probe: TlsProbe) => ['trusted', 'untrusted', 'wrong-name'].includes(probe.kind);

function temporalTlsHint(probe: TlsProbe, tlsOn: boolean, address: string): string | undefined {
  if (!tlsOn && speaksTls(probe)) {
    return `the server at ${address} speaks TLS, but TLS is off: set TEMPORAL_TLS=true (and TEMPORAL_TLS_SERVER_CA_CERT_PATH for a private CA), or the profile's tls`;
  }
  if (tlsOn && probe.kind === 'no-tls') {
    return `TLS is on (TEMPORAL_TLS, an API key or the profile's tls), but the server at ${address} offers no TLS: point TEMPORAL_ADDRESS at its TLS endpoint, or set TEMPORAL_TLS=false for a plaintext server`;
  }
  if (tlsOn && probe.kind === 'untrusted') {
    return `the certificate of the server at ${address} is not signed by a CA Meshloop trusts (${probe.code}): set TEMPORAL_TLS_SERVER_CA_CERT_PATH to the CA that signed it`;
  }
  if (tlsOn && probe.kind === 'wrong-name') {
    return `the certificate of the server at ${address} does not carry the name Meshloop checks (${probe.detail}): set TEMPORAL_TLS_SERVER_NAME to a name it carries`;
  }
  if (tlsOn && probe.kind !== 'unreachable') {
    return `no TLS connection to Temporal at ${address}: TLS is on (TEMPORAL_TLS, an API key or the profile's tls); check TEMPORAL_TLS_SERVER_CA_CERT_PATH, TEMPORAL_TLS_SERVER_NAME and the client certificate (TEMPORAL_TLS_CLIENT_CERT_PATH, TEMPORAL_TLS_CLIENT_KEY_PATH), and TEMPORAL_ADDRESS`;
  }
  return undefined;
}

export async function temporalFix(message: string, config: MeshloopConfig): Promise<string> {
  const address = config.temporal.address;
  if (/not ?found/i.test(message)) {
    return `namespace '${config.temporal.namespace}' does not exist there: set TEMPORAL_NAMESPACE (or the profile's namespace, or MESHLOOP_TEMPORAL_NAMESPACE for the local platform)`;
  }
  if (/unauthenticated|permission|denied|401|403/i.test(message)) {
    return 'the server refused the credentials: check TEMPORAL_API_KEY or TEMPORAL_TLS_CLIENT_CERT_PATH / TEMPORAL_TLS_CLIENT_KEY_PATH (or the profile in TEMPORAL_CONFIG_FILE)';
  }
  const { tls } = temporalConnectOptions(config.temporal.connection);
  const tlsOn = tls !== undefined && tls !== false;
  const settings = typeof tls === 'object' ? tls : {};
  const probe = await probeTls(address, {
    ...(settings.serverRootCACertificate ? { ca: settings.serverRootCACertificate } : {}),
    ...(settings.serverNameOverride ? { servername: settings.serverNameOverride } : {}),
  });
  const hint = temporalTlsHint(probe, tlsOn, address);
  if (hint) return hint;
  return `Temporal is not reachable at ${address}: set TEMPORAL_ADDRESS (or the profile's address; the local platform: MESHLOOP_TEMPORAL_PORT, \`meshloop stack up\`)`;
}

function kafkaTlsHint(probe: TlsProbe, tlsOn: boolean, broker: string): string | undefined {
  if (!tlsOn && speaksTls(probe)) {
    return `the broker at ${broker} speaks TLS (an SSL or SASL_SSL listener), but MESHLOOP_KAFKA_TLS is off: set MESHLOOP_KAFKA_TLS=true (MESHLOOP_KAFKA_TLS_CA_FILE for a private CA; MESHLOOP_KAFKA_SASL_* for SASL_SSL)`;
  }
  if (!tlsOn) return undefined;
  if (probe.kind === 'no-tls') {
    return `TLS is on (MESHLOOP_KAFKA_TLS or MESHLOOP_KAFKA_TLS_*_FILE), but the broker at ${broker} offers no TLS there: put the TLS listener's port in MESHLOOP_KAFKA_BROKERS, or set MESHLOOP_KAFKA_TLS=false for a PLAINTEXT listener`;
  }
  if (probe.kind === 'untrusted') {
    return `the broker's certificate at ${broker} is not signed by a CA Meshloop trusts (${probe.code}): set MESHLOOP_KAFKA_TLS_CA_FILE to the CA that signed it`;
  }
  if (probe.kind === 'wrong-name') {
    return `the broker's certificate does not carry the name in MESHLOOP_KAFKA_BROKERS (${probe.detail}): use a host name it carries`;
  }
  return undefined;
}

export async function kafkaFix(message: string, config: MeshloopConfig): Promise<string> {
  if (/sasl|authentica/i.test(message)) {
    return 'Kafka refused the login: check MESHLOOP_KAFKA_SASL_MECHANISM, MESHLOOP_KAFKA_SASL_USERNAME and MESHLOOP_KAFKA_SASL_PASSWORD (or MESHLOOP_KAFKA_SASL_OAUTH_TOKEN)';
  }
  if (/authoriz|acl/i.test(message)) {
    return "Meshloop's Kafka user may not describe the cluster or list topics: grant it those ACLs";
  }
  const broker = config.kafka.brokers[0]!;
  const caFile = config.kafka.tls?.caFile;
  const probe = await probeTls(broker, caFile ? { ca: fs.readFileSync(caFile) } : {});
  const hint = kafkaTlsHint(probe, config.kafka.tls !== undefined, broker);
  if (hint) return hint;
  if (/certificate|ssl|tls|self.signed|EPROTO/i.test(message)) {
    return 'TLS failed: check MESHLOOP_KAFKA_TLS and MESHLOOP_KAFKA_TLS_CA_FILE (and the client certificate files)';
  }
  return `no Kafka broker answers at ${config.kafka.brokers.join(',')}: set MESHLOOP_KAFKA_BROKERS (the local platform: MESHLOOP_KAFKA_PORT, \`meshloop stack up\`)`;
}

function registryTlsHint(probe: TlsProbe, https: boolean, url: string): string | undefined {
  if (!https && speaksTls(probe)) {
    return `the registry at ${url} speaks TLS: use an https:// URL in MESHLOOP_SCHEMA_REGISTRY_URL (and MESHLOOP_SCHEMA_REGISTRY_TLS_CA_FILE for a private CA)`;
  }
  if (!https) return undefined;
  if (probe.kind === 'no-tls') {
    return `MESHLOOP_SCHEMA_REGISTRY_URL is https, but ${url} offers no TLS: use its http:// URL or its TLS port`;
  }
  if (probe.kind === 'untrusted') {
    return `the registry's certificate at ${url} is not signed by a CA Meshloop trusts (${probe.code}): set MESHLOOP_SCHEMA_REGISTRY_TLS_CA_FILE to the CA that signed it`;
  }
  if (probe.kind === 'wrong-name') {
    return `the registry's certificate does not carry the host in MESHLOOP_SCHEMA_REGISTRY_URL (${probe.detail}): use a host name it carries`;
  }
  return undefined;
}

export async function registryFix(message: string, config: MeshloopConfig): Promise<string> {
  const url = registryAddress(config.schemaRegistry);
  if (/\b401\b|\b403\b|unauthori[sz]ed|forbidden/i.test(message)) {
    return 'the registry refused the credentials: check MESHLOOP_SCHEMA_REGISTRY_USER and MESHLOOP_SCHEMA_REGISTRY_PASSWORD (or MESHLOOP_SCHEMA_REGISTRY_TOKEN)';
  }
  const parsed = new URL(config.schemaRegistry.url);
  const https = parsed.protocol === 'https:';
  const port = parsed.port || (https ? '443' : '80');
  const caFile = config.schemaRegistry.tlsCaFile;
  const probe = await probeTls(`${parsed.hostname}:${port}`, caFile ? { ca: fs.readFileSync(caFile) } : {});
  const hint = registryTlsHint(probe, https, url);
  if (hint) return hint;
  if (/\b404\b/.test(message)) {
    return `no Confluent-compatible API at ${url}: MESHLOOP_SCHEMA_REGISTRY_URL must be the API's base (Apicurio: …/apis/ccompat/v7)`;
  }
  return `no Schema Registry answers at ${url}: set MESHLOOP_SCHEMA_REGISTRY_URL (the local platform: MESHLOOP_SCHEMA_REGISTRY_PORT, \`meshloop stack up\`)`;
}
