import { stringify } from 'yaml';
import type { ContractServers } from '../contracts/odcs';
import { contractOf as odcsContractOf, contractYaml, ODCS_API_VERSION } from '../contracts/odcs';
import type { CatalogDescriptor } from '../domain/catalog';

/**
 * A product's contract as the web catalog shows and serves it: the spec as YAML (what an approver
 * approved) and the ODCS contract `meshloop contract export` writes. A renderer added to
 * `contractFormats` is listed on the product page, served at /products/<id>/contract?format=<name>,
 * and needs nothing else from the web code.
 */
export type ContractDocument = Readonly<{
  format: string;
  title: string;
  /** Served with this type (text/plain or text/yaml; never HTML). */
  mediaType: string;
  text: string;
}>;

export type ContractRenderer = (descriptor: CatalogDescriptor, servers: ContractServers) => ContractDocument;

const specYaml: ContractRenderer = (descriptor) => ({
  format: 'spec',
  title: 'Spec (YAML)',
  mediaType: 'text/plain; charset=utf-8',
  text: stringify(descriptor.spec, { lineWidth: 0 }),
});

const odcsYaml: ContractRenderer = (descriptor, servers) => ({
  format: 'odcs',
  title: `ODCS ${ODCS_API_VERSION} (YAML)`,
  mediaType: 'text/plain; charset=utf-8',
  text: contractYaml(
    odcsContractOf(
      {
        spec: descriptor.spec,
        productId: descriptor.productId,
        stage: descriptor.stage,
        decisions: descriptor.decisions,
        ...(descriptor.lineage ? { lineage: descriptor.lineage } : {}),
      },
      servers,
    ),
  ),
});

export const contractFormats: Readonly<Record<string, ContractRenderer>> = { spec: specYaml, odcs: odcsYaml };

export const DEFAULT_CONTRACT_FORMAT = 'spec';

/** Every contract document of the product, the default first. */
export function contractsOf(descriptor: CatalogDescriptor, servers: ContractServers): ContractDocument[] {
  return Object.values(contractFormats).map((render) => render(descriptor, servers));
}

/** One format's document; undefined for a format nobody registered. */
export function contractOf(
  descriptor: CatalogDescriptor,
  format: string,
  servers: ContractServers,
): ContractDocument | undefined {
  return Object.hasOwn(contractFormats, format) ? contractFormats[format]?.(descriptor, servers) : undefined;
}
