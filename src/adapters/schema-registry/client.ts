import fs from 'node:fs';
import https from 'node:https';
import tls from 'node:tls';
import type * as Serdes from '@confluentinc/schemaregistry';
import type { ClientConfig, SchemaRegistryClient, SerdeConfig } from '@confluentinc/schemaregistry';
import type { SchemaRegistryConfig } from '../../config';

/**
 * Registry requests are few and cached, so a generous timeout costs little, and a busy registry
 * (a loaded machine, a JVM still warming up) is not mistaken for a missing one; yet one that does
 * not answer must not stall discovery for long.
 */
export const DEFAULT_REQUEST_TIMEOUT_MS = 15_000;

export function schemaRegistryClientConfig(
  config: SchemaRegistryConfig,
  timeoutMs = DEFAULT_REQUEST_TIMEOUT_MS,
): ClientConfig {
  return {
    baseURLs: [config.url],
    createAxiosDefaults: {
      timeout: timeoutMs,
      ...(config.tlsCaFile ? { httpsAgent: registryHttpsAgent(config.tlsCaFile) } : {}),
    },
    maxRetries: 1,
    ...(config.basicAuth
      ? {
          basicAuthCredentials: {
            credentialsSource: 'USER_INFO',
            userInfo: `${config.basicAuth.user}:${config.basicAuth.password}`,
          },
        }
      : {}),
    ...(config.bearerToken
      ? { bearerAuthCredentials: { credentialsSource: 'STATIC_TOKEN', token: config.bearerToken } }
      : {}),
  };
}

/** Trusts the configured CA besides Node's built-in roots (a private CA in front of a registry). */
function registryHttpsAgent(caFile: string): https.Agent {
  return new https.Agent({ ca: [...tls.rootCertificates, fs.readFileSync(caFile, 'utf8')] });
}

/**
 * The official client (`@confluentinc/schemaregistry`), loaded on first use: it brings the cloud KMS
 * SDKs along, which commands that never meet a registry record should not pay for.
 */
export async function createSchemaRegistryClient(
  config: SchemaRegistryConfig,
  timeoutMs?: number,
): Promise<SchemaRegistryClient> {
  const { SchemaRegistryClient } = await import('@confluentinc/schemaregistry');
  return new SchemaRegistryClient(schemaRegistryClientConfig(config, timeoutMs));
}

/**
 * The serializers' and deserializers' subject for a topic: `<topic>-value` (Confluent's
 * TopicNameStrategy), the subject every Meshloop reader and writer uses. Without it the client first
 * asks the registry's associations API for every topic, which Apicurio does not serve: it answers
 * 404, and about one such request in ten not at all (the client then waits out its timeout).
 */
export function topicNameSubjects(serde: typeof Serdes): Pick<SerdeConfig, 'subjectNameStrategyType'> {
  return { subjectNameStrategyType: serde.SubjectNameStrategyType.TOPIC };
}

/** The registry's address for messages: credentials written into the URL itself are masked. */
export function registryAddress(config: SchemaRegistryConfig): string {
  try {
    const url = new URL(config.url);
    if (url.username || url.password) {
      url.username = '***';
      url.password = '';
    }
    return url.toString().replace(/\/$/, '');
  } catch {
    return '(the configured registry)';
  }
}

/**
 * The latest value schema of a topic (`<topic>-value`, TopicNameStrategy) as the registry holds it;
 * undefined when nothing is registered there. The client is made on first use and kept.
 */
export function valueSchemaLookup(
  config: SchemaRegistryConfig,
): (topic: string) => Promise<{ schemaType: string; schema: string } | undefined> {
  let client: Promise<SchemaRegistryClient> | undefined;
  return async (topic) => {
    client ??= createSchemaRegistryClient(config);
    try {
      const latest = await (await client).getLatestSchemaMetadata(`${topic}-value`);
      return { schemaType: latest.schemaType || 'AVRO', schema: latest.schema ?? '' };
    } catch (error) {
      if ((error as { status?: number }).status === 404) return undefined;
      throw new Error(
        `Schema Registry ${registryAddress(config)}: the schema of ${topic}-value could not be read (${(error as Error).message}); check MESHLOOP_SCHEMA_REGISTRY_URL and its credentials`,
      );
    }
  };
}
