import type { Stage } from './lifecycle';
import { bounded } from './messages';
import type { ProductStatus } from './product-state';
import type { ProductSpec } from './spec';
import { productIdOf } from './spec';

/**
 * What the Temporal UI shows of a product's workflow: a one-line static summary and static details
 * (set where the workflow starts), and current details (markdown, set by the workflow on every
 * decision; no history command). An approver reading the UI alone knows what the product is, where
 * it stands and what to do.
 */

/** One line: product, kind, owner (the workflow list's Summary column). */
export function staticSummaryOf(spec: ProductSpec): string {
  return bounded(`${productIdOf(spec)} · ${spec.kind} · owner ${spec.owner}`, 200);
}

/** What the product is: description, inputs, output, SLA and quality rules, who proposed it. */
export function staticDetailsOf(spec: ProductSpec): string {
  const lines = [`**${productIdOf(spec)}** (${spec.kind}, domain ${spec.domain}, owner ${spec.owner})`];
  if (spec.description) lines.push('', bounded(spec.description, 1000));
  lines.push(
    '',
    `- inputs: ${spec.inputs.map((i) => `\`${'topic' in i ? i.topic : i.product}\``).join(', ') || 'none'}`,
  );
  lines.push(`- output: ${spec.schema.fields.map((f) => f.name).join(', ')}`);
  if (spec.sla.freshness) lines.push(`- SLA: fresh within ${spec.sla.freshness}`);
  if (spec.quality.length > 0) lines.push(`- quality rules: ${spec.quality.length}`);
  const by = spec.proposal?.proposedBy;
  if (by) lines.push(`- proposed by ${by.kind} ${by.name}`);
  return bounded(lines.join('\n'), 4000);
}

const stageLabel: Readonly<Record<Stage, string>> = {
  proposed: 'proposed (being checked)',
  awaitingApproval: 'awaiting approval',
  changesRequested: 'changes requested',
  provisioning: 'provisioning',
  active: 'active',
  degraded: 'degraded',
  deprecated: 'deprecated',
  retired: 'retired',
  rejected: 'rejected',
  expired: 'expired',
  failed: 'failed',
  dismissed: 'dismissed by the critic',
};

/** What an approver or operator should do now, by stage. */
export function nextStepOf(status: ProductStatus): string {
  const id = status.productId;
  switch (status.stage) {
    case 'proposed':
      return 'Nothing yet: the policies, the SQL guard and the critic are checking the proposal.';
    case 'awaitingApproval': {
      const needs = status.requiredApprovals - status.approvals.length;
      const who = status.approvers.length > 0 ? ` (approvers: ${status.approvers.join(', ')})` : '';
      const due = status.deadline ? `, before ${status.deadline}` : '';
      return (
        `Approve or reject${due}: ${needs} more approval(s) needed${who}. ` +
        `Send the signal \`approve\` or \`reject\` with \`{"by":"<you>"}\`, or run \`meshloop approve ${id} --by <you>\`.`
      );
    }
    case 'changesRequested':
      return `Waiting for an amended spec: \`meshloop request-changes ${id} --spec <file>\`.`;
    case 'provisioning':
      return 'Nothing: the topic, the Flink job and the Iceberg table are being made.';
    case 'active':
      return 'Nothing: the product runs; its analysis cycles watch it.';
    case 'degraded':
      return status.degradedBy === 'table'
        ? `Fix the cause below, then \`meshloop redeploy ${id} --by <operator>\`.`
        : 'Read the cause below; a job fault heals itself, a breach clears with the next clean cycle.';
    case 'failed':
      return `Fix the cause below, then \`meshloop retry ${id} --by <operator>\`.`;
    case 'deprecated':
      return `Retire it once its readers moved: \`meshloop retire ${id} --by <operator>\`.`;
    default:
      return 'Nothing: this product has ended.';
  }
}

function lastDecisionLine(status: ProductStatus): string | undefined {
  const last = status.decisions.at(-1);
  if (!last) return undefined;
  const comment = last.comment ? `: ${bounded(last.comment, 300)}` : '';
  return `**Last decision:** ${last.action} by ${last.by} at ${last.at} → ${last.stage}${comment}`;
}

function tableLine(status: ProductStatus): string | undefined {
  const table = status.materialization?.status;
  if (!table) return undefined;
  if (table.rowCount === undefined) return `**Table:** \`${table.table}\`, no commit yet`;
  return `**Table:** \`${table.table}\`, ${table.rowCount} rows, last commit ${table.lastCommitAt ?? 'unknown'}`;
}

function analysisLine(status: ProductStatus): string | undefined {
  const cycle = status.analysisCycles?.at(-1);
  if (!cycle) return undefined;
  const breaches = cycle.breaches.map((b) => `${b.rule}: ${b.failing} failing`).join('; ');
  return `**Last analysis:** ${cycle.outcome} at ${cycle.at}, ${cycle.rows} rows${breaches ? ` (${breaches})` : ''}`;
}

/**
 * The current details: summary line, stage, last decision, table rows and freshness, last
 * analysis, what to do next, the last error, then `extra` (the critic's review and the preview).
 */
export function currentDetailsOf(status: ProductStatus, extra?: string): string {
  const spec = status.spec;
  const lines = [
    `**${status.productId}** · ${spec.kind} · owner ${spec.owner}`,
    `**Stage:** ${stageLabel[status.stage]} (revision ${status.revision})`,
    lastDecisionLine(status),
    tableLine(status),
    analysisLine(status),
    `**Next:** ${nextStepOf(status)}`,
    status.lastError
      ? `**Last error:** ${status.lastError.type}: ${bounded(status.lastError.message, 500)}`
      : undefined,
  ].filter((line): line is string => line !== undefined);
  const text = lines.join('\n\n');
  return bounded(extra ? `${text}\n\n${extra}` : text, 12_000);
}
