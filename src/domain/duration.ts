/** Durations as people write them in specs and mesh.yaml: `30s`, `15m`, `72h`, `7d` (also `500ms`). */
const unitMs = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const durationPattern = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/;

/** Milliseconds in a duration text, or undefined when the text is not a positive duration. */
export function parseDuration(text: string): number | undefined {
  const match = durationPattern.exec(text.trim());
  if (!match) return undefined;
  const ms = Number(match[1]) * unitMs[match[2] as keyof typeof unitMs];
  return ms > 0 && Number.isFinite(ms) ? Math.round(ms) : undefined;
}

export const durationHint = "a duration like '30s', '15m', '72h' or '7d'";

/** The shortest exact text for a number of milliseconds, for messages and descriptors. */
export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    if (ms >= unitMs[unit] && ms % unitMs[unit] === 0) return `${ms / unitMs[unit]}${unit}`;
  }
  return `${ms}ms`;
}
