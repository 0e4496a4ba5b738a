import type { FieldProfile, TopicProfile } from '../profile/types';
import type { KeyOverlap } from '../profile/sketch';
import { keyOverlap } from '../profile/sketch';

/**
 * Join keys found from the data, not from names: a field unique in one topic (the parent) whose
 * values hold most of another topic's field's values (the child), with the same type. Pure.
 */

/** At least this share of the child's values must be parent keys. */
export const MIN_CONTAINMENT = 0.8;
/** And the estimate must rest on at least this many sampled values. */
export const MIN_SAMPLED = 16;

export type JoinKey = Readonly<{
  parent: string;
  parentField: string;
  child: string;
  childField: string;
  overlap: KeyOverlap;
}>;

const isCandidate = (
  field: FieldProfile | undefined,
): field is FieldProfile & Required<Pick<FieldProfile, 'keySketch'>> =>
  field?.keySketch !== undefined && !field.name.includes('.');

/**
 * For every key-like field of every topic, the best parent: a topic where a field of the same type
 * is unique and holds at least MIN_CONTAINMENT of its values. When several parents qualify (orders
 * and payments both hold the order ids of shipments), the one with the most distinct keys wins: it
 * owns the key, the others reference it. A pair of topics is joined at most once.
 */
export function findJoinKeys(profiles: readonly TopicProfile[]): JoinKey[] {
  const sorted = [...profiles].sort((a, b) => a.topic.localeCompare(b.topic));
  const parents = sorted.flatMap((profile) =>
    profile.candidateKeys
      .map((name) => profile.fields.find((f) => f.name === name))
      .filter(isCandidate)
      .map((field) => ({ profile, field })),
  );
  const found: JoinKey[] = [];
  const pairs = new Set<string>();
  for (const child of sorted) {
    for (const childField of child.fields.filter(isCandidate)) {
      let best: { parent: (typeof parents)[number]; overlap: KeyOverlap } | undefined;
      for (const parent of parents) {
        if (parent.profile === child || parent.field.type !== childField.type) continue;
        // The owner of a key has at least as many of them as any topic referring to it.
        if (parent.field.distinct < childField.distinct) continue;
        const overlap = keyOverlap(childField.keySketch, parent.field.keySketch);
        if (overlap.containment < MIN_CONTAINMENT || overlap.sampled.child < MIN_SAMPLED) continue;
        if (
          !best ||
          parent.field.distinct > best.parent.field.distinct ||
          (parent.field.distinct === best.parent.field.distinct &&
            overlap.containment > best.overlap.containment)
        ) {
          best = { parent, overlap };
        }
      }
      if (!best) continue;
      const pair = [best.parent.profile.topic, child.topic].sort().join('|');
      if (pairs.has(pair)) continue;
      pairs.add(pair);
      found.push({
        parent: best.parent.profile.topic,
        parentField: best.parent.field.name,
        child: child.topic,
        childField: childField.name,
        overlap: best.overlap,
      });
    }
  }
  return found;
}

/** `92 % of 512 sampled values` */
export function describeOverlap(join: JoinKey): string {
  const pct = (ratio: number) => `${Math.round(ratio * 1000) / 10} %`;
  return (
    `${pct(join.overlap.containment)} of ${join.child}.${join.childField}'s values ` +
    `(${join.overlap.sampled.child} sampled${join.overlap.exact ? ', all of them' : ''}) are ` +
    `${join.parent}.${join.parentField} keys; they cover ${pct(join.overlap.coverage)} of those keys`
  );
}
