/**
 * A product's audit lists (decisions, ignored messages) are carried in workflow state, which lives
 * in history and must stay far below Temporal's payload limits whatever arrives. The newest entries
 * are kept whole; older ones are folded into a summary (how many, of which kind, from when to when).
 */

export const MAX_DECISIONS = 100;
export const MAX_IGNORED = 50;

export type AuditSummary = Readonly<{
  count: number;
  /** How many of each action were folded in. */
  byAction: Readonly<Record<string, number>>;
  /** ISO times of the oldest and the newest entry folded in. */
  from: string;
  to: string;
}>;

/** Append `entry`, keeping at most `max` entries; the oldest ones go into `summary`. */
export function appendBounded<T extends { action: string; at: string }>(
  list: readonly T[],
  summary: AuditSummary | undefined,
  entry: T,
  max: number,
): { list: T[]; summary: AuditSummary | undefined } {
  const next = [...list, entry];
  if (next.length <= max) return { list: next, summary };
  const folded = next.splice(0, next.length - max);
  let result = summary;
  for (const old of folded) {
    const byAction: Record<string, number> = { ...(result?.byAction ?? {}) };
    // Own properties only: an ignored message's action may be any string.
    const before = Object.prototype.hasOwnProperty.call(byAction, old.action)
      ? (byAction[old.action] ?? 0)
      : 0;
    byAction[old.action] = before + 1;
    result = {
      count: (result?.count ?? 0) + 1,
      byAction,
      from: result?.from ?? old.at,
      to: old.at,
    };
  }
  return { list: next, summary: result };
}
