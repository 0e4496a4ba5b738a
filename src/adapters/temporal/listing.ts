import { Client } from '@temporalio/client';
import { listingDataConverterFor } from '../../codec/payload-codec';

/**
 * A client for listing workflows over the same connection: a row whose memo it cannot decrypt
 * (another key, or none configured) reads with no memo rather than failing the whole list.
 */
export function listingClient(client: Client, payloadKeys: string | undefined): Client {
  return new Client({
    connection: client.connection,
    namespace: client.options.namespace,
    dataConverter: listingDataConverterFor(payloadKeys),
  });
}
