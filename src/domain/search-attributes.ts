import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** Meshloop's custom search attributes: they make the mesh searchable in the Temporal UI. */
export const meshloopSearchAttributes = {
  domain: defineSearchAttributeKey('MeshloopDomain', SearchAttributeType.KEYWORD),
  stage: defineSearchAttributeKey('MeshloopStage', SearchAttributeType.KEYWORD),
  owner: defineSearchAttributeKey('MeshloopOwner', SearchAttributeType.KEYWORD),
  kind: defineSearchAttributeKey('MeshloopKind', SearchAttributeType.KEYWORD),
} as const;

/** `Name=Type` pairs as the Temporal CLI's `--search-attribute` flag takes them. */
export const searchAttributeFlags: readonly string[] = Object.values(meshloopSearchAttributes).map(
  (key) => `${key.name}=Keyword`,
);
