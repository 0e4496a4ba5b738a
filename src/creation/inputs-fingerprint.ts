import { createHash } from 'node:crypto';
import type { CatalogView } from '../domain/catalog-view';
import type { InputBinding } from '../domain/creation';

/**
 * What a proposal's inputs are, as a hash: their topics, declared fields and the SQL of upstream
 * products. The critic records it on every review; discovery and the analyst compare it with a
 * dismissal's to propose a dismissed idea again only when its inputs changed.
 */

/** What the inputs are, as far as the critic saw them: a new fingerprint means new inputs. */
export function fingerprintOf(bindings: readonly InputBinding[], view: CatalogView): string {
  const shape = bindings
    .map((b) => ({
      topic: b.topic,
      fields: b.fields.map((f) => `${f.name}:${f.type}`),
      product: b.productId ? { id: b.productId, version: view.get(b.productId)?.spec.sql ?? '' } : null,
    }))
    .sort((a, b) => a.topic.localeCompare(b.topic));
  return createHash('sha256').update(JSON.stringify(shape)).digest('hex').slice(0, 32);
}
