import { visible } from './output';
import type { CatalogView } from '../domain/catalog-view';
import type { ProductSpec } from '../domain/spec';

/**
 * The lineage of ideas `meshloop show` prints: the product whose analysis proposed this one
 * (`spec.proposal.parentProductId`), and the products proposed from this one's analyses (catalog
 * descriptors naming it as their parent).
 */

export type IdeaLineage = {
  parent?: string;
  children: Array<{ productId: string; stage: string }>;
};

export function ideaLineageOf(
  productId: string,
  spec: Pick<ProductSpec, 'proposal'>,
  catalog: CatalogView,
): IdeaLineage {
  const parent = spec.proposal?.parentProductId;
  return { ...(parent ? { parent } : {}), children: catalog.childrenOf(productId) };
}

/** `undefined` lineage: the catalog could not be read (children unknown). */
export function formatIdeaLineage(lineage: IdeaLineage | undefined, parent?: string): string {
  const lines = [`derived from ${lineage?.parent ?? parent ?? '- (not proposed by an analysis)'}`];
  if (!lineage) lines.push('children    (the catalog could not be read)');
  else if (lineage.children.length === 0) lines.push('children    none proposed from its analyses yet');
  else {
    lines.push('children');
    for (const child of lineage.children) lines.push(`  ${child.productId} (${child.stage})`);
  }
  return lines.map(visible).join('\n');
}
