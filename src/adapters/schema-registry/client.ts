import type { ClientConfig, SchemaRegistryClient } from '@confluentinc/schemaregistry';
import type { SchemaRegistryConfig } from '../../config';

/** Registry requests are few and cached; a registry that does not answer must not stall discovery. */
const REQUEST_TIMEOUT_MS = 5000;

export function schemaRegistryClientConfig(config: SchemaRegistryConfig): ClientConfig {
  return {
    baseURLs: [config.url],
    createAxiosDefaults: { timeout: REQUEST_TIMEOUT_MS },
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

/**
 * The official client (`@confluentinc/schemaregistry`), loaded on first use: it brings the cloud KMS
 * SDKs along, which commands that never meet a registry record should not pay for.
 */
export async function createSchemaRegistryClient(
  config: SchemaRegistryConfig,
): Promise<SchemaRegistryClient> {
  const { SchemaRegistryClient } = await import('@confluentinc/schemaregistry');
  return new SchemaRegistryClient(schemaRegistryClientConfig(config));
}
