import type { CatalogDescriptor } from './catalog';
import { upstreamProductsOf } from './catalog';
import type { Stage } from './lifecycle';
import type { ProductSpec } from './spec';

/** A product as discovery sees it: the topic it writes, its stage, the raw topics it reads. */
export type ProductTopic = Readonly<{
  productId: string;
  topic: string;
  stage: Stage;
  inputTopics: readonly string[];
}>;

/**
 * The catalog as its readers ask it: one object over the parsed descriptors (see
 * `parseCatalogDescriptor`), so no reader interprets a record by hand. Pure; the Kafka adapter's
 * `readCatalog` builds it.
 */
export class CatalogView {
  static readonly empty = new CatalogView([]);

  private readonly byId: ReadonlyMap<string, CatalogDescriptor>;

  /** One descriptor per product: the last one given wins (in the place of the first). */
  constructor(descriptors: Iterable<CatalogDescriptor>) {
    const byId = new Map<string, CatalogDescriptor>();
    for (const descriptor of descriptors) byId.set(descriptor.productId, descriptor);
    this.byId = byId;
  }

  get size(): number {
    return this.byId.size;
  }

  /** Every descriptor, in the order the catalog first held them. */
  all(): readonly CatalogDescriptor[] {
    return [...this.byId.values()];
  }

  get(productId: string): CatalogDescriptor | undefined {
    return this.byId.get(productId);
  }

  /** The product's spec as the catalog holds it (what product inputs read: schema, output topic). */
  specOf(productId: string): ProductSpec | undefined {
    return this.byId.get(productId)?.spec;
  }

  stageOf(productId: string): Stage | undefined {
    return this.byId.get(productId)?.stage;
  }

  /** The products this one reads (its inputs that are products). */
  upstreamsOf(productId: string): string[] {
    const descriptor = this.byId.get(productId);
    return descriptor ? upstreamProductsOf(descriptor.spec) : [];
  }

  /** Products whose descriptor names the topic as their output. */
  writersOf(topic: string): string[] {
    return this.all()
      .filter((d) => d.spec.outputTopic.name === topic)
      .map((d) => d.productId);
  }

  /** Does the product's descriptor list the Kafka topic among what its provisioning made? */
  madeTopic(productId: string, topic: string): boolean {
    return (this.byId.get(productId)?.resources ?? []).some(
      (r) => r.kind === 'kafkaTopic' && r.name === topic,
    );
  }

  /** Active products that read this one: retiring it would break them. Ordered by product id. */
  activeDependantsOf(productId: string): string[] {
    return this.all()
      .filter(
        (d) =>
          d.stage === 'active' && d.productId !== productId && upstreamProductsOf(d.spec).includes(productId),
      )
      .map((d) => d.productId)
      .sort();
  }

  /** Products proposed from this one's analyses (their spec names it as the parent), by product id. */
  childrenOf(productId: string): Array<{ productId: string; stage: Stage }> {
    return this.all()
      .filter((d) => d.productId !== productId && d.spec.proposal?.parentProductId === productId)
      .map((d) => ({ productId: d.productId, stage: d.stage }))
      .sort((a, b) => a.productId.localeCompare(b.productId));
  }

  /** Which topic each product writes, its stage and the raw topics it reads. */
  productTopics(): ProductTopic[] {
    return this.all().map((d) => ({
      productId: d.productId,
      topic: d.spec.outputTopic.name,
      stage: d.stage,
      inputTopics: d.spec.inputs.flatMap((input) => ('topic' in input ? [input.topic] : [])),
    }));
  }
}
