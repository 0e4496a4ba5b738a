import type { MeshConfig } from '../domain/mesh-config';
import type { FieldProfile, TopicProfile } from '../profile/types';
import type { Draft, DraftField, DiscoveryProposal, DroppedProposal, ProfileIndex } from './proposals';
import type { JoinKey } from './join-keys';
import { describeOverlap, findJoinKeys } from './join-keys';
import { MAX_MISTYPED_SHARE } from '../profile/types';
import { columnOf, finishProposal, indexProfiles, specTypeOf, topicParts } from './proposals';
import { ownValue } from '../domain/records';
import { JOIN_WINDOW } from './product-sql';

/**
 * The deterministic planner: proposals from the profiles alone, so the mesh works without an LLM.
 * - a clean topic (few unparseable records, no type drift) → a source-aligned product;
 * - a topic with PII signals → a source-aligned product classified PII, its personal fields masked;
 * - two clean topics sharing a key (unique in one, its values held by the other, found from the
 *   sampled values whatever the fields are called) and both with an event time → an aggregate
 *   product joining them (orders with their payments: an inner interval join, ±1 h);
 * Each proposal carries its Flink SQL (./product-sql).
 * - topics that are products' outputs (from the catalog) are products: never copied as "curated",
 *   but joined like any topic, as `{ product }` inputs (higher-order products).
 * Pure: same profiles, same mesh, same proposals. Record contents never reach a spec (only field
 * names, types and figures do), so text in a record cannot steer it.
 */

export const PLANNER_NAME = 'discovery-planner';
/** More unparseable records than this share and a topic is not clean enough to build on. */
export const MAX_UNPARSEABLE_RATIO = 0.01;

/** A join key found from the values, whether proposed or not (the discovery report lists them all). */
export type FoundJoin = Readonly<{
  parent: string;
  child: string;
  /** Share of the child field's values among the parent's unique keys (0–1). */
  containment: number;
  /** Share of the parent's keys that the child field holds (0–1). */
  coverage: number;
  evidence: string;
  /** Why no product joins them, when none does. */
  notProposed?: string;
}>;

export type PlannerResult = {
  proposals: DiscoveryProposal[];
  dropped: DroppedProposal[];
  skipped: string[];
  joins: FoundJoin[];
};

const pct = (ratio: number) => `${(ratio * 100).toFixed(ratio < 0.01 && ratio > 0 ? 2 : 1)} %`;
const count = (n: number) => n.toLocaleString('en');

function usableFields(profile: TopicProfile): FieldProfile[] {
  return profile.fields.filter((f) => f.type !== 'null' && f.nullRatio < 1);
}

function fieldOf(topic: string, field: FieldProfile, name = columnOf(field.name)): DraftField {
  return {
    name,
    type: specTypeOf(field.type),
    description: `${field.name} from ${topic}`,
    from: [{ topic, field: field.name }],
    nullable: field.nullRatio > 0,
  };
}

/** Records of a topic a product would reject: unparseable ones, and those with a mistyped value (at most). */
export function rejectedOf(profile: TopicProfile): { total: number; mistyped: number; summary: string } {
  const mistyped = (profile.mistyped ?? []).reduce((sum, m) => sum + m.records, 0);
  const fields = (profile.mistyped ?? []).map(
    (m) =>
      `${m.field}: ${Object.entries(m.types)
        .filter(([type]) => type !== m.type)
        .map(([type, n]) => `${type} in ${count(n ?? 0)}`)
        .join(', ')} of ${count(m.records + (m.types[m.type] ?? 0))} (${m.type} expected)`,
  );
  return {
    total: profile.unparseable.total + mistyped,
    mistyped,
    summary: mistyped > 0 ? `${count(mistyped)} rejected as mistyped (${fields.join('; ')})` : '',
  };
}

/** How a drifting field's types split: `quantity: long in 1,000 (50.0 %), string in 1,000 (50.0 %)`. */
export function describeDrift(drift: TopicProfile['drift'][number]): string {
  const entries = Object.entries(drift.types).map(([type, n]): [string, number] => [type, n ?? 0]);
  const total = entries.reduce((sum, [, n]) => sum + n, 0);
  return `${drift.field}: ${entries
    .sort((a, b) => b[1] - a[1])
    .map(([type, n]) => `${type} in ${count(n)} (${pct(n / Math.max(1, total))})`)
    .join(', ')}`;
}

export function profileEvidence(profile: TopicProfile): { summary: string; source: string } {
  const rejected = rejectedOf(profile);
  const parts = [
    `${count(profile.records)} records sampled, ${count(profile.unparseable.total)} unparseable` +
      (rejected.summary ? `, ${rejected.summary}` : '') +
      (profile.duplicates ? `, ${count(profile.duplicates)} redelivered duplicates left out` : ''),
    `${profile.fields.length} fields`,
  ];
  if (profile.candidateKeys.length > 0) parts.push(`unique non-null: ${profile.candidateKeys.join(', ')}`);
  if (profile.eventTimeField) {
    const time = profile.fields.find((f) => f.name === profile.eventTimeField);
    parts.push(
      `event time ${profile.eventTimeField}${time?.min ? ` ${String(time.min)} → ${String(time.max)}` : ''}`,
    );
  }
  return { summary: `${profile.topic}: ${parts.join('; ')}`, source: `profile:${profile.topic}` };
}

/** The business goal of a domain whose words best match these terms (the first one on a tie). */
export function matchingGoal(goals: readonly string[], terms: readonly string[]): string | undefined {
  const words = new Set(
    terms.flatMap((t) => t.toLowerCase().split(/[^a-z0-9]+/)).filter((w) => w.length > 2),
  );
  const stem = (w: string) => w.replace(/s$/, '');
  const stems = new Set([...words].map(stem));
  let best: { goal: string; score: number } | undefined;
  for (const goal of goals) {
    const score = goal
      .toLowerCase()
      .split(/[^a-z0-9]+/)
      .filter((w) => stems.has(stem(w))).length;
    if (score > 0 && (!best || score > best.score)) best = { goal, score };
  }
  return best?.goal ?? goals[0];
}

function keyOf(profile: TopicProfile, fields: readonly DraftField[]): string[] {
  const names = new Set(fields.map((f) => f.name));
  const preferred =
    profile.messageKey.field && profile.candidateKeys.includes(profile.messageKey.field)
      ? profile.messageKey.field
      : profile.candidateKeys.find((k) => !k.includes('.'));
  return preferred && names.has(columnOf(preferred)) ? [columnOf(preferred)] : [];
}

function sourceAligned(profile: TopicProfile, mesh: MeshConfig): Draft {
  const { domain, entity } = topicParts(profile.topic);
  const fields = usableFields(profile).map((f) => fieldOf(profile.topic, f));
  const piiFields = profile.pii.map((s) => `${s.field} (${s.kind}, ${pct(s.matchRatio)} of sampled values)`);
  const pii = piiFields.length > 0;
  const goal = matchingGoal(ownValue(mesh.domains, domain)?.businessGoals ?? [], [
    entity,
    domain,
    ...(pii ? ['personal', 'masked'] : []),
  ]);
  const key = keyOf(profile, fields);
  const evidence = [profileEvidence(profile)];
  if (pii)
    evidence.push({ summary: `PII signals: ${piiFields.join('; ')}`, source: `profile:${profile.topic}` });
  return {
    name: pii ? `${entity}_masked` : `${entity}_curated`,
    domain,
    kind: 'source-aligned',
    description: pii
      ? `${profile.topic} as a contracted product, personal data masked for readers outside the ${domain} domain.`
      : `${profile.topic} as a contracted, typed product with a key${profile.eventTimeField ? ' and an event time' : ''}.`,
    inputs: [profile.topic],
    fields,
    key,
    ...(profile.eventTimeField ? { eventTimeField: columnOf(profile.eventTimeField) } : {}),
    reasoning:
      `${profile.topic} is clean (${pct(rejectedOf(profile).total / Math.max(1, profile.records))} of records ` +
      `unparseable or mistyped, which the product rejects; no type drift)` +
      (key.length > 0 ? ` and ${key[0]} identifies each record` : '') +
      (pii
        ? `; it carries personal data (${profile.pii.map((s) => s.field).join(', ')}), which the product masks`
        : '') +
      (goal ? `. Serves the ${domain} goal: "${goal}"` : '.'),
    evidence,
    confidence: pii ? 0.7 : key.length > 0 ? 0.8 : 0.6,
  };
}

function joined(
  parent: TopicProfile,
  child: TopicProfile,
  join: JoinKey,
  mesh: MeshConfig,
  products: ReadonlyMap<string, string>,
): Draft {
  const { domain, entity } = topicParts(parent.topic);
  const other = topicParts(child.topic).entity;
  const key = join.parentField;
  const fields = usableFields(parent).map((f) => fieldOf(parent.topic, f));
  const taken = new Set(fields.map((f) => f.name));
  for (const f of usableFields(child)) {
    if (f.name === join.childField) continue;
    let name = columnOf(f.name);
    if (taken.has(name)) name = `${other}_${name}`;
    if (taken.has(name)) continue;
    taken.add(name);
    // An inner join: a row has both sides, so the child's columns are as nullable as its fields.
    fields.push(fieldOf(child.topic, f, name));
  }
  const goal = matchingGoal(ownValue(mesh.domains, domain)?.businessGoals ?? [], [entity, other, domain]);
  const childKeyUnique = child.candidateKeys.includes(join.childField);
  const on = join.childField === key ? key : `${key} = ${other}.${join.childField}`;
  const asProduct = (topic: string) => {
    const product = products.get(topic);
    return product ? `product ${product}` : topic;
  };
  const childField = child.fields.find((f) => f.name === join.childField);
  return {
    name: `${entity}_with_${other}`,
    domain,
    kind: 'aggregate',
    description:
      `${asProduct(parent.topic)} joined with ${asProduct(child.topic)} on ${on}: an inner join of the records ` +
      `whose event times lie within ${JOIN_WINDOW.text} of each other, ` +
      `${childKeyUnique ? `one row per ${key}` : 'one row per matching pair'}, written as both streams arrive.`,
    inputs: [parent.topic, child.topic],
    ...(products.has(parent.topic) || products.has(child.topic)
      ? {
          products: Object.fromEntries(
            [...products].filter(([t]) => t === parent.topic || t === child.topic),
          ),
        }
      : {}),
    fields,
    key: [columnOf(key)],
    ...(parent.eventTimeField ? { eventTimeField: columnOf(parent.eventTimeField) } : {}),
    join: { parent: parent.topic, parentField: key, child: child.topic, childField: join.childField },
    reasoning:
      `${key} is unique in ${parent.topic} and the values of ${child.topic}.${join.childField} are among its keys` +
      `${childKeyUnique ? ' (one per key there too)' : ''}; both carry an event time ` +
      `(${parent.eventTimeField} and ${child.eventTimeField}), so they are joined on ${on} as an inner join within ` +
      `${JOIN_WINDOW.text} of ${parent.eventTimeField} (a record with no match within that window is left out)` +
      (goal ? `. Serves the ${domain} goal: "${goal}"` : '.'),
    evidence: [
      profileEvidence(parent),
      profileEvidence(child),
      {
        summary: `${describeOverlap(join)} (${childField?.type}, null ${pct(childField?.nullRatio ?? 0)})`,
        source: `profile:${child.topic}`,
      },
    ],
    confidence: join.overlap.containment >= 0.95 ? 0.7 : 0.6,
    freshness: '15m',
  };
}

/** A product in the catalog, as discovery needs it: which topic it writes, and whether it runs. */
export type CatalogProduct = Readonly<{
  productId: string;
  topic: string;
  stage: string;
  /** The raw topics it reads: while it runs, joins use the product instead of them. */
  inputTopics?: readonly string[];
}>;

/** Stages in which a product's output can feed another product. */
const FEEDING_STAGES = new Set(['active', 'degraded']);

export function planProposals(
  profiles: readonly TopicProfile[],
  mesh: MeshConfig,
  options: { profiles?: ProfileIndex; products?: readonly CatalogProduct[] } = {},
): PlannerResult {
  // Topics that are products' outputs are products: built upon (inputs `{ product }`), never copied.
  const productOf = new Map((options.products ?? []).map((p) => [p.topic, p]));
  const feeding = new Map(
    [...productOf].filter(([, p]) => FEEDING_STAGES.has(p.stage)).map(([topic, p]) => [topic, p.productId]),
  );
  const index = options.profiles ?? indexProfiles(profiles);
  const proposals: DiscoveryProposal[] = [];
  const dropped: DroppedProposal[] = [];
  const skipped: string[] = [];
  const sorted = [...profiles].sort((a, b) => a.topic.localeCompare(b.topic));
  const add = (draft: Draft) => {
    const result = finishProposal(draft, {
      profiles: index,
      mesh,
      origin: 'planner',
      agentName: PLANNER_NAME,
    });
    if ('proposal' in result) proposals.push(result.proposal);
    else dropped.push({ name: `${draft.domain}.${draft.name}`, origin: 'planner', reasons: result.problems });
  };

  const clean: TopicProfile[] = [];
  for (const profile of sorted) {
    const { domain } = topicParts(profile.topic);
    if (!ownValue(mesh.domains, domain)) {
      skipped.push(`${profile.topic}: domain '${domain}' is not in mesh.yaml`);
      continue;
    }
    if (profile.parsed === 0) {
      skipped.push(`${profile.topic}: no parseable records in the sample (${profile.records} read)`);
      continue;
    }
    // Bad records are counted as rejected (the product's job sends them to its rejected topic);
    // only when they are more than a small share is the topic not clean enough to build on.
    const rejected = rejectedOf(profile);
    const badRatio = rejected.total / Math.max(1, profile.records);
    if (badRatio > MAX_UNPARSEABLE_RATIO) {
      skipped.push(
        `${profile.topic}: ${pct(badRatio)} of records unparseable or mistyped (${count(profile.unparseable.total)} ` +
          `unparseable, ${count(rejected.mistyped)} mistyped of ${count(profile.records)}; more than ` +
          `${pct(MAX_UNPARSEABLE_RATIO)})`,
      );
      continue;
    }
    if (profile.drift.length > 0) {
      skipped.push(
        `${profile.topic}: schema drifts, fields changed type for more than ${pct(MAX_MISTYPED_SHARE)} of their ` +
          `values (${profile.drift.map(describeDrift).join('; ')}); fix the producer first`,
      );
      continue;
    }
    const product = productOf.get(profile.topic);
    if (product) {
      if (!feeding.has(profile.topic)) {
        skipped.push(`${profile.topic}: output of product ${product.productId}, which is ${product.stage}`);
        continue;
      }
    } else {
      add(sourceAligned(profile, mesh));
    }
    if (profile.pii.length === 0) clean.push(profile);
  }
  // Joins between clean, PII-free topics with event times, on keys whose values overlap.
  // A raw topic that a running product reads is superseded by that product: joins build on the
  // product (and a product never joins its own source, whose keys it shares by construction).
  const superseded = new Set(
    (options.products ?? []).filter((p) => feeding.has(p.topic)).flatMap((p) => p.inputTopics ?? []),
  );
  const timed = clean.filter((p) => p.eventTimeField !== undefined && !superseded.has(p.topic));
  const byTopic = new Map(timed.map((p) => [p.topic, p]));
  const joins: FoundJoin[] = [];
  const report = (join: JoinKey, notProposed?: string) =>
    joins.push({
      parent: `${join.parent}.${join.parentField}`,
      child: `${join.child}.${join.childField}`,
      containment: join.overlap.containment,
      coverage: join.overlap.coverage,
      evidence: describeOverlap(join),
      ...(notProposed ? { notProposed } : {}),
    });
  const pairs = new Set<string>();
  for (const join of findJoinKeys(timed)) {
    const parent = byTopic.get(join.parent);
    const child = byTopic.get(join.child);
    if (!parent || !child) continue;
    add(joined(parent, child, join, mesh, feeding));
    report(join);
    pairs.add([join.parent, join.child].sort().join('|'));
  }
  // Keys among the other usable topics (personal data, no event time) are reported, not proposed.
  const usable = sorted.filter((p) => !skipped.some((s) => s.startsWith(`${p.topic}: `)));
  for (const join of findJoinKeys(usable)) {
    if (pairs.has([join.parent, join.child].sort().join('|'))) continue;
    report(join, whyNotJoined(join, sorted, superseded));
  }
  return { proposals, dropped, skipped, joins };
}

function whyNotJoined(
  join: JoinKey,
  profiles: readonly TopicProfile[],
  superseded: ReadonlySet<string>,
): string {
  const reasons = [join.parent, join.child].flatMap((topic) => {
    const profile = profiles.find((p) => p.topic === topic);
    if (!profile) return [];
    if (profile.pii.length > 0)
      return [
        `${topic} holds personal data (${[...new Set(profile.pii.map((s) => s.field))].join(', ')}): its joins are drafted by hand, masked`,
      ];
    if (!profile.eventTimeField) return [`${topic} has no event time to bound the join`];
    if (superseded.has(topic)) return [`${topic} is read by a running product, which joins in its place`];
    return [];
  });
  return reasons.join('; ') || 'not proposed';
}
