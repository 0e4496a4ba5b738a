import type { ProductSpec } from '../domain/spec';

/**
 * The lineage of ideas `meshloop show` prints: the product whose analysis proposed this one
 * (`spec.proposal.parentProductId`), and the products proposed from this one's analyses (catalog
 * descriptors naming it as their parent). Catalog records are untrusted: read defensively.
 */

export type IdeaLineage = {
  parent?: string;
  children: Array<{ productId: string; stage: string }>;
};

const textOf = (value: unknown): string | undefined =>
  typeof value === 'string' && value !== '' ? value.slice(0, 300) : undefined;

export function ideaLineageOf(
  productId: string,
  spec: Pick<ProductSpec, 'proposal'>,
  catalog: Iterable<unknown>,
): IdeaLineage {
  const children: IdeaLineage['children'] = [];
  for (const record of catalog) {
    if (record === null || typeof record !== 'object') continue;
    const { productId: childId, stage, spec: childSpec } = record as Record<string, unknown>;
    const proposal = (childSpec as { proposal?: unknown } | undefined)?.proposal;
    const parent = (proposal as { parentProductId?: unknown } | undefined)?.parentProductId;
    const id = textOf(childId);
    if (!id || id === productId || parent !== productId) continue;
    children.push({ productId: id, stage: textOf(stage) ?? 'unknown' });
  }
  children.sort((a, b) => a.productId.localeCompare(b.productId));
  const parent = spec.proposal?.parentProductId;
  return { ...(parent ? { parent } : {}), children };
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
  return lines.join('\n');
}
