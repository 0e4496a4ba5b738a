import type { ProductSpec, FieldType } from '../domain/spec';
import type { FieldProfile, TopicProfile } from '../profile/types';

/**
 * What either discovery agent drafts before it is checked (proposals.ts `finishProposal`), and the
 * profiles it is checked against; the SQL planner (product-sql.ts) reads both.
 */

export type SourceField = Readonly<{ topic: string; field: string }>;

/** An output column and the profiled source fields it comes from. */
export type DraftField = Readonly<{
  name: string;
  type: FieldType;
  description: string;
  from: readonly SourceField[];
  nullable: boolean;
}>;

/** What either agent drafts; `finishProposal` turns it into a checked spec. */
export type Draft = Readonly<{
  name: string;
  domain: string;
  kind: ProductSpec['kind'];
  description: string;
  inputs: readonly string[];
  /** Inputs that are products' output topics: topic → product id (the spec names the product). */
  products?: Readonly<Record<string, string>>;
  fields: readonly DraftField[];
  key: readonly string[];
  eventTimeField?: string;
  reasoning: string;
  evidence: ReadonlyArray<{ summary: string; source?: string }>;
  confidence: number;
  freshness?: string;
  /** Joined drafts: the shared key (else `planSql` measures it from the profiles). */
  join?: Readonly<{ parent: string; parentField: string; child: string; childField: string }>;
  /** The drafter's own SQL; without it the planner's deterministic SQL is used. */
  sql?: string;
}>;

export type ProfileIndex = ReadonlyMap<
  string,
  { profile: TopicProfile; fields: ReadonlyMap<string, FieldProfile> }
>;

export function indexProfiles(profiles: readonly TopicProfile[]): ProfileIndex {
  return new Map(
    profiles.map((profile) => [
      profile.topic,
      { profile, fields: new Map(profile.fields.map((f) => [f.name, f])) },
    ]),
  );
}
