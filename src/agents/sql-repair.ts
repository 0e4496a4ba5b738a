import { statementKindProblems } from '../creation/sql-text';
import { inputAliasOf } from '../domain/creation';
import type { SqlCheckResult } from '../domain/creation';
import { flinkTypeOf } from '../domain/flink-types';
import type { ProductInput, ProductSpec } from '../domain/spec';
import { parseSpec } from '../domain/spec';
import type { TopicProfile } from '../profile/types';
import type { DiscoveryProposal } from './proposals';
import { indexProfiles, snake } from './proposals';
import { planInputs } from './product-sql';

/**
 * The LLM's SQL drafts: how the model is told to write them, how a draft joins its proposal's
 * spec (with the inputs' columns from the profiles), and the check a draft must pass (the SQL
 * guard, injected). Pure apart from the injected check.
 */

/** The SQL guard over a whole spec (the discovery activity injects the real one, on Flink). */
export type SqlChecker = (spec: ProductSpec) => Promise<SqlCheckResult>;

export const SQL_RULES = [
  'Each proposal carries `sql`: one Flink SQL (1.20) SELECT computing exactly its fields, nothing else:',
  '- Read each input topic by its `sqlName` from the profiles (a table with the profiled fields as',
  '  columns, typed as `sqlType`); no other table exists. Quote names with dots in backticks.',
  "- Output columns: the proposal's fields, same names (AS <name>) and order, Flink types matching",
  '  the field types (string STRING, long BIGINT, double DOUBLE, boolean BOOLEAN, timestamp',
  '  TIMESTAMP_LTZ(3), json STRING); CAST where needed.',
  '- The event time of a topic is its watermarked column. Join two topics with an interval join on',
  "  their event times (b.ts BETWEEN a.ts - INTERVAL '1' HOUR AND a.ts + INTERVAL '1' HOUR); keep",
  '  only one event-time column as is, write others as CAST(x AS TIMESTAMP_LTZ(3)). Aggregate over',
  "  time with window TVFs: FROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL '1' HOUR)) GROUP BY",
  '  window_start, window_end; window_start/window_end are TIMESTAMP(3): CAST them AS TIMESTAMP_LTZ(3).',
  '- Fields drawn from a profiled field marked `pii` are masked in the SQL: email',
  "  SHA2(CAST(x AS STRING), 256); phone and national ids a constant such as '***'; card numbers",
  '  RIGHT(x, 4); person names SUBSTRING(SHA2(x, 256), 1, 16).',
  '- Never DDL, INSERT, SET, hints (/*+ ... */), several statements, or functions you define.',
].join('\n');

/**
 * The SQL name of every profiled topic: its entity (`orders.orders` → `orders`), or the whole
 * topic in snake case when two topics share an entity.
 */
export function sqlNamesOf(profiles: readonly TopicProfile[]): Map<string, string> {
  const byEntity = new Map<string, number>();
  for (const profile of profiles) {
    const alias = inputAliasOf({ topic: profile.topic });
    byEntity.set(alias, (byEntity.get(alias) ?? 0) + 1);
  }
  return new Map(
    profiles.map((profile) => {
      const alias = inputAliasOf({ topic: profile.topic });
      return [profile.topic, (byEntity.get(alias) ?? 0) > 1 ? snake(profile.topic).slice(0, 63) : alias];
    }),
  );
}

/** A topic input as the SQL reads it: named, with the profiled fields as typed columns (as the planner declares them). */
export function topicInputOf(profile: TopicProfile, sqlName: string): ProductInput {
  const [input] = planInputs({ inputs: [profile.topic] }, indexProfiles([profile]));
  return { ...(input ?? { topic: profile.topic }), as: sqlName };
}

/** What the model sees of a topic's SQL table, beside its profile. */
export function sqlTableOf(profile: TopicProfile, sqlName: string) {
  const input = topicInputOf(profile, sqlName);
  const schema = 'schema' in input ? input.schema : undefined;
  return {
    sqlName,
    eventTimeColumn: schema?.eventTimeField ?? null,
    sqlTypes: Object.fromEntries(
      (schema?.fields ?? []).map((field) => [field.name, flinkTypeOf[field.type]]),
    ),
  };
}

/** The proposal with its inputs' columns and the drafted SQL, re-validated as a spec. */
export function withDraftSql(
  proposal: DiscoveryProposal,
  sql: string,
  context: {
    profiles: ReadonlyMap<string, { profile: TopicProfile }>;
    sqlNames: ReadonlyMap<string, string>;
  },
): { proposal: DiscoveryProposal } | { problems: string[] } {
  const inputs = proposal.spec.inputs.map((input) => {
    if (!('topic' in input)) return input;
    const found = context.profiles.get(input.topic);
    return found
      ? topicInputOf(found.profile, context.sqlNames.get(input.topic) ?? inputAliasOf(input))
      : input;
  });
  try {
    const spec = parseSpec(
      { ...proposal.spec, inputs, sql },
      `proposal ${proposal.spec.domain}.${proposal.spec.name}`,
    );
    return { proposal: { ...proposal, spec } };
  } catch (error) {
    const listed = (error as { problems?: string[] }).problems;
    return { problems: listed ?? [(error as Error).message] };
  }
}

/** The statement-kind check always; the whole guard when one is given. */
export async function draftSqlProblems(
  spec: ProductSpec,
  checkSql: SqlChecker | undefined,
): Promise<string[]> {
  if (!spec.sql) return ['sql: missing: write one SELECT over the inputs'];
  const text = statementKindProblems(spec.sql).map((problem) => `sql: ${problem}`);
  if (text.length > 0 || !checkSql) return text;
  const result = await checkSql(spec);
  return result.ok ? [] : [...result.problems];
}

/** Drafts that failed their checks, by name, with the problems (sentences the model can act on). */
export type FailingDrafts = Map<string, string[]>;

/** The message that sends failing drafts back to the model. */
export function repairRequest(failing: ReadonlyMap<string, readonly string[]>, instruction: string): string {
  return (
    'These drafts failed validation against the real schemas and the Flink SQL guard:\n' +
    [...failing].map(([name, problems]) => `- ${name}: ${problems.join('; ')}`).join('\n') +
    `\n${instruction}`
  );
}

/**
 * The repair loop of the LLM agents: drafts with problems go back to the model with the list, at
 * most `maxRepairs` times. Each answer may fix some; a draft the answer does not resend keeps its
 * problems, and drafts nobody asked about are ignored. Returns what still fails.
 */
export async function repairDrafts<T>(input: {
  failing: FailingDrafts;
  maxRepairs: number;
  /** One more request naming the failing drafts: their new versions, a refusal, or undefined when the answer was unusable (the loop ends). */
  askAgain: (
    failing: ReadonlyMap<string, readonly string[]>,
    repair: number,
  ) => Promise<readonly T[] | { refused: string } | undefined>;
  nameOf: (draft: T) => string;
  /** Empty when the draft is accepted (the caller keeps it). */
  problemsOf: (draft: T) => Promise<string[]>;
}): Promise<FailingDrafts> {
  const failing = new Map(input.failing);
  for (let repair = 1; repair <= input.maxRepairs && failing.size > 0; repair++) {
    const answer = await input.askAgain(failing, repair);
    if (answer === undefined) break;
    if ('refused' in answer) {
      for (const name of failing.keys()) failing.set(name, [`the model refused: ${answer.refused}`]);
      break;
    }
    const resent = new Set<string>();
    for (const draft of answer) {
      const name = input.nameOf(draft);
      if (!failing.has(name) || resent.has(name)) continue;
      resent.add(name);
      const problems = await input.problemsOf(draft);
      if (problems.length === 0) failing.delete(name);
      else failing.set(name, problems);
    }
  }
  return failing;
}
