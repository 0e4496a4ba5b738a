import { bounded } from './messages';

/**
 * What the critic found about a proposal before any approver is asked, and the preview of its
 * rows it weighed: both travel through workflow history and the status query, so every list and
 * string here is bounded (boundedPreview, boundedCritique).
 */

/** The proposal's SQL run once in Flink over a bounded sample of its inputs (fixed offsets). */
export type ProposalPreview = Readonly<{
  /** `rows`: it ran and returned rows; `empty`: it ran and returned none; `failed`: it did not run. */
  outcome: 'rows' | 'empty' | 'failed';
  /** Output columns, in order. */
  columns: readonly string[];
  /** The first rows (each value as text, bounded). */
  rows: ReadonlyArray<readonly (string | null)[]>;
  /** Rows the SQL produced from the sample (counted up to `rowCap`; `capped` when it got there). */
  rowCount: number;
  capped: boolean;
  /** Input records the sample held, per input alias. */
  sampled: ReadonlyArray<Readonly<{ input: string; topic: string; records: number }>>;
  /** Wall time of the preview, ms. */
  tookMs: number;
  /** Why it failed (Flink's words), when it did. */
  failure?: string;
  at: string;
}>;

export const criticVerdicts = ['propose', 'dismiss'] as const;
export type CriticVerdict = (typeof criticVerdicts)[number];

/** One input's measured rate: records and bytes per second over a recent window of its topic. */
export type InputRate = Readonly<{
  input: string;
  topic: string;
  recordsPerSecond: number;
  bytesPerSecond: number;
  /** The window the rate was measured over, seconds (Kafka offsets for a timestamp). */
  windowSeconds: number;
  /** Average record size in the sample, bytes. */
  bytesPerRecord: number;
}>;

/** What the product would cost to run, from measured figures; `basis` says how each was reached. */
export type CostEstimate = Readonly<{
  inputs: readonly InputRate[];
  outputRecordsPerSecond: number;
  /** Keys the job keeps state for (group or join keys, from the profiles' sketches). */
  stateKeys: number;
  stateBytes: number;
  icebergBytesPerDay: number;
  /** Task slots: the product's job and its Iceberg materialization. */
  flinkSlots: number;
  basis: readonly string[];
}>;

/** An existing product or proposal the proposal overlaps, and how. */
export type Overlap = Readonly<{
  productId: string;
  stage: string;
  /** Upstream Kafka topics both are derived from. */
  sharedTopics: readonly string[];
  sharedColumns: readonly string[];
  sharedKeys: readonly string[];
  /** The sentence the critic says about it. */
  note: string;
}>;

export type ValueFinding = Readonly<{
  /** The business goal it serves (mesh.yaml), when it serves one. */
  goal?: string;
  how: string;
}>;

export type RiskFinding = Readonly<{
  personalFields: readonly string[];
  /** Output rows per input row of a join, measured from the key sketches (1: no fan-out). */
  joinFanOut?: number;
  lateData?: string;
  notes: readonly string[];
}>;

export type Critique = Readonly<{
  verdict: CriticVerdict;
  /** `rules`: the deterministic critic; `llm`: the LLM critic, its figures checked against the measured ones. */
  by: 'rules' | 'llm';
  /** Why: for a dismissal, what an approver would have been told. */
  reasons: readonly string[];
  cost: CostEstimate;
  redundancy: readonly Overlap[];
  value: ValueFinding;
  risk: RiskFinding;
  /** LLM figures that disagreed with the measured ones: corrected to the measured, or dropped. */
  corrections?: readonly string[];
  /** A hash of the inputs as the critic saw them (topics, declared fields, upstream revisions). */
  inputsFingerprint: string;
  at: string;
}>;

export const MAX_PREVIEW_ROWS = 20;
const MAX_CELL = 200;
const MAX_COLUMNS = 50;

/** The preview as it may travel: at most 20 rows of 50 columns, each value at most 200 characters. */
export function boundedPreview(preview: ProposalPreview): ProposalPreview {
  return {
    ...preview,
    columns: preview.columns.slice(0, MAX_COLUMNS).map((c) => bounded(c, 100)),
    rows: preview.rows
      .slice(0, MAX_PREVIEW_ROWS)
      .map((row) =>
        row.slice(0, MAX_COLUMNS).map((cell) => (cell === null ? null : bounded(cell, MAX_CELL))),
      ),
    sampled: preview.sampled.slice(0, 50),
    ...(preview.failure !== undefined ? { failure: bounded(preview.failure, 2000) } : {}),
  };
}

/** The critique as it may travel: bounded lists and sentences. */
export function boundedCritique(critique: Critique): Critique {
  const sentences = (list: readonly string[] | undefined, max = 20) =>
    (list ?? []).slice(0, max).map((s) => bounded(s, 600));
  return {
    ...critique,
    reasons: sentences(critique.reasons),
    cost: {
      ...critique.cost,
      inputs: critique.cost.inputs.slice(0, 50),
      basis: sentences(critique.cost.basis),
    },
    redundancy: critique.redundancy.slice(0, 10).map((o) => ({
      ...o,
      sharedTopics: o.sharedTopics.slice(0, 50),
      sharedColumns: o.sharedColumns.slice(0, 100),
      sharedKeys: o.sharedKeys.slice(0, 20),
      note: bounded(o.note, 600),
    })),
    value: {
      how: bounded(critique.value.how, 600),
      ...(critique.value.goal ? { goal: bounded(critique.value.goal, 300) } : {}),
    },
    risk: {
      ...critique.risk,
      personalFields: critique.risk.personalFields.slice(0, 100),
      notes: sentences(critique.risk.notes),
    },
    ...(critique.corrections ? { corrections: sentences(critique.corrections) } : {}),
  };
}

/** 1234567 → `1.2M`; 0.004 → `0.004`. */
export function compactNumber(value: number): string {
  if (!Number.isFinite(value)) return '?';
  const abs = Math.abs(value);
  if (abs >= 1e9) return `${(value / 1e9).toFixed(1)}G`;
  if (abs >= 1e6) return `${(value / 1e6).toFixed(1)}M`;
  if (abs >= 1e3) return `${(value / 1e3).toFixed(1)}k`;
  if (abs >= 10 || abs === 0) return String(Math.round(value));
  return String(Number(value.toPrecision(2)));
}

/** 1536 → `1.5 KB`. */
export function compactBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return '?';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? Math.round(value) : value.toFixed(1)} ${units[unit]}`;
}

/** The critic's verdict and cost in one short cell: `propose 12 rec/s in, 3 out, 1.2 MB state, 40 MB/day`. */
export function critiqueCell(critique: Critique | undefined): string {
  if (!critique) return '-';
  const { cost } = critique;
  const input = cost.inputs.reduce((sum, i) => sum + i.recordsPerSecond, 0);
  return (
    `${critique.verdict} ${compactNumber(input)}→${compactNumber(cost.outputRecordsPerSecond)} rec/s, ` +
    `${compactBytes(cost.stateBytes)} state, ${compactBytes(cost.icebergBytesPerDay)}/day, ${cost.flinkSlots} slots`
  );
}

/** What the critic said, as the Temporal UI shows it in the workflow's current details (markdown). */
export function critiqueDetails(
  critique: Critique | undefined,
  preview: ProposalPreview | undefined,
): string {
  const lines: string[] = [];
  if (critique) {
    lines.push(`**Critic (${critique.by}): ${critique.verdict}** — ${critiqueCell(critique)}`);
    for (const reason of critique.reasons) lines.push(`- ${reason}`);
    lines.push(`- value: ${critique.value.how}`);
  }
  if (preview) {
    lines.push(
      '',
      `**Preview**: ${preview.outcome}, ${preview.rowCount}${preview.capped ? '+' : ''} rows from ${preview.sampled.reduce((s, i) => s + i.records, 0)} sampled records in ${preview.tookMs} ms`,
    );
    if (preview.failure) lines.push(`- ${preview.failure}`);
    if (preview.rows.length > 0) {
      lines.push('', `| ${preview.columns.join(' | ')} |`, `|${preview.columns.map(() => '---').join('|')}|`);
      for (const row of preview.rows.slice(0, 10))
        lines.push(`| ${row.map((cell) => (cell ?? 'null').replace(/\|/g, '\\|')).join(' | ')} |`);
    }
  }
  return bounded(lines.join('\n'), 8000);
}

/** What `meshloop list` reads from a product workflow's memo (`critic`): the verdict and the cost. */
export type CriticMemo = Readonly<{
  verdict: CriticVerdict | 'none';
  summary: string;
  inputRecordsPerSecond?: number;
  outputRecordsPerSecond?: number;
  stateBytes?: number;
  icebergBytesPerDay?: number;
  flinkSlots?: number;
}>;

export function criticMemoOf(critique: Critique | undefined): CriticMemo {
  if (!critique) return { verdict: 'none', summary: 'no review (the critic could not run)' };
  const { cost } = critique;
  return {
    verdict: critique.verdict,
    summary: critiqueCell(critique),
    inputRecordsPerSecond: cost.inputs.reduce((s, i) => s + i.recordsPerSecond, 0),
    outputRecordsPerSecond: cost.outputRecordsPerSecond,
    stateBytes: cost.stateBytes,
    icebergBytesPerDay: cost.icebergBytesPerDay,
    flinkSlots: cost.flinkSlots,
  };
}

/** A memo as read back (anyone may have written it): its summary, or `-`. */
export function criticCellOfMemo(memo: unknown): string {
  if (!memo || typeof memo !== 'object') return '-';
  const summary = (memo as { summary?: unknown }).summary;
  return typeof summary === 'string' ? bounded(summary, 120) : '-';
}

function critiqueLines(critique: Critique): string[] {
  const lines = [`critic      ${critique.verdict} (${critique.by}) ${critiqueCell(critique)}`];
  const { risk } = critique;
  const risks = [
    ...(risk.personalFields.length > 0 ? [`personal output fields: ${risk.personalFields.join(', ')}`] : []),
    ...(risk.joinFanOut !== undefined ? [`join fan-out ×${risk.joinFanOut}`] : []),
    ...(risk.lateData ? [risk.lateData] : []),
    ...risk.notes,
  ];
  const labelled: [string, readonly string[]][] = [
    ['reason   ', critique.reasons],
    ['value    ', [critique.value.how]],
    ['overlap  ', critique.redundancy.map((o) => o.note)],
    ['cost     ', critique.cost.basis],
    ['risk     ', risks],
    ['corrected', critique.corrections ?? []],
    ['inputs   ', [`fingerprint ${critique.inputsFingerprint}`]],
  ];
  for (const [label, list] of labelled) for (const line of list) lines.push(`  ${label} ${line}`);
  return lines;
}

function previewLines(preview: ProposalPreview): string[] {
  const sampled = preview.sampled.map((s) => `${s.records} from ${s.topic}`).join(', ');
  const lines = [
    `preview     ${preview.outcome}: ${preview.rowCount}${preview.capped ? '+' : ''} rows from a sample of ${sampled || 'no records'} in ${preview.tookMs} ms (${preview.at})`,
  ];
  if (preview.failure) lines.push(`  failure   ${preview.failure}`);
  if (preview.rows.length > 0) {
    lines.push(`  ${preview.columns.join(' | ')}`);
    for (const row of preview.rows) lines.push(`  ${row.map((cell) => cell ?? 'null').join(' | ')}`);
  }
  return lines;
}

/** The preview and the critic's review as `meshloop show` prints them. */
export function formatCritique(
  critique: Critique | undefined,
  preview: ProposalPreview | undefined,
): string[] {
  return [...(critique ? critiqueLines(critique) : []), ...(preview ? previewLines(preview) : [])];
}

/** What a proposal's Slack message shows of the review: the verdict, cost, reasons and a few rows. */
export type SlackReview = Readonly<{
  critic?: Readonly<{ verdict: string; summary: string; reasons: readonly string[]; value: string }>;
  preview?: Readonly<{
    outcome: string;
    rowCount: number;
    columns: readonly string[];
    rows: ReadonlyArray<readonly (string | null)[]>;
    failure?: string;
  }>;
}>;

export function slackReviewOf(status: { critique?: Critique; preview?: ProposalPreview }): SlackReview {
  const { critique, preview } = status;
  return {
    ...(critique
      ? {
          critic: {
            verdict: critique.verdict,
            summary: critiqueCell(critique),
            reasons: critique.reasons.slice(0, 3),
            value: critique.value.how,
          },
        }
      : {}),
    ...(preview
      ? {
          preview: {
            outcome: preview.outcome,
            rowCount: preview.rowCount,
            columns: preview.columns.slice(0, 10),
            rows: preview.rows.slice(0, 3).map((row) => row.slice(0, 10)),
            ...(preview.failure ? { failure: bounded(preview.failure, 300) } : {}),
          },
        }
      : {}),
  };
}
