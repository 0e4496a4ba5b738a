/**
 * The SLA's volume check: rows added since the previous cycle against the recent cycles. Pure.
 * A cycle adding less than half (`dropBelow`) or more than three times (`spikeAbove`) the median of
 * the recent cycles is a finding; fewer than `minHistory` earlier cycles decide nothing yet.
 */

export const VOLUME_THRESHOLDS = { dropBelow: 0.5, spikeAbove: 3, minHistory: 3, window: 10 } as const;

export type VolumeCheck = Readonly<{
  outcome: 'ok' | 'drop' | 'spike' | 'insufficientHistory';
  added: number;
  /** Median rows added per cycle over the recent cycles (undefined without enough history). */
  baseline?: number;
  /** added / baseline. */
  ratio?: number;
  summary: string;
}>;

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** `recent`: rows added in the previous cycles, oldest first. */
export function checkVolume(
  added: number,
  recent: readonly number[],
  thresholds: {
    dropBelow: number;
    spikeAbove: number;
    minHistory: number;
    window: number;
  } = VOLUME_THRESHOLDS,
): VolumeCheck {
  const history = recent.slice(-thresholds.window);
  if (history.length < thresholds.minHistory) {
    return {
      outcome: 'insufficientHistory',
      added,
      summary: `${added} rows added; ${history.length} earlier cycles, ${thresholds.minHistory} needed to judge volume`,
    };
  }
  const baseline = median(history);
  // A quiet product stays quiet: no rows against a baseline of none is not a drop.
  const ratio = baseline === 0 ? (added === 0 ? 1 : Infinity) : added / baseline;
  const outcome = ratio < thresholds.dropBelow ? 'drop' : ratio > thresholds.spikeAbove ? 'spike' : 'ok';
  const shown = Number.isFinite(ratio) ? `${ratio.toFixed(2)}×` : 'from none';
  return {
    outcome,
    added,
    baseline,
    ratio,
    summary:
      `${added} rows added against a median of ${baseline} over the last ${history.length} cycles (${shown}; ` +
      `a finding below ${thresholds.dropBelow}× or above ${thresholds.spikeAbove}×)`,
  };
}
