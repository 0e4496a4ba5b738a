import { stringify } from 'yaml';
import type { CatalogDescriptor } from '../domain/catalog';

/**
 * A product's contract as the web catalog shows and serves it. Today one format: the spec as YAML
 * (what an approver approved). The seam for more: a renderer added to `contractFormats` (the ODCS
 * export planned in src/contracts registers itself here as `odcs`) is listed on the product page,
 * served at /products/<id>/contract?format=<name>, and needs nothing else from the web code.
 */
export type ContractDocument = Readonly<{
  format: string;
  title: string;
  /** Served with this type (text/plain or text/yaml; never HTML). */
  mediaType: string;
  text: string;
}>;

export type ContractRenderer = (descriptor: CatalogDescriptor) => ContractDocument;

const specYaml: ContractRenderer = (descriptor) => ({
  format: 'spec',
  title: 'Spec (YAML)',
  mediaType: 'text/plain; charset=utf-8',
  text: stringify(descriptor.spec, { lineWidth: 0 }),
});

export const contractFormats: Readonly<Record<string, ContractRenderer>> = { spec: specYaml };

export const DEFAULT_CONTRACT_FORMAT = 'spec';

/** Every contract document of the product, the default first. */
export function contractsOf(descriptor: CatalogDescriptor): ContractDocument[] {
  return Object.values(contractFormats).map((render) => render(descriptor));
}

/** One format's document; undefined for a format nobody registered. */
export function contractOf(descriptor: CatalogDescriptor, format: string): ContractDocument | undefined {
  return Object.hasOwn(contractFormats, format) ? contractFormats[format]?.(descriptor) : undefined;
}
