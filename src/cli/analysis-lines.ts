import type { AnalysisCycleSummary } from '../domain/analysis';

const short = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

/** A running schedule's first cycle comes by itself soon after the table's first commit. */
const noCycleYet = (productId: string, schedule: { state: string } | undefined) =>
  schedule?.state === 'running'
    ? `  no cycle yet: the first runs soon after the table's first commit (or now: meshloop analyse ${productId})`
    : `  no cycle yet (run one now: meshloop analyse ${productId})`;

/** `meshloop show`'s analysis lines: the schedule as the workflow keeps it, and the last cycles, newest first. */
export function formatRecentCycles(status: {
  productId: string;
  analysisSchedule?: { state: string; every: string };
  analysisCycles?: readonly AnalysisCycleSummary[];
  pendingCycles?: readonly AnalysisCycleSummary[];
}): string[] {
  const schedule = status.analysisSchedule;
  const lines = [
    schedule
      ? `analysis    every ${schedule.every}, schedule analysis:${status.productId} ${schedule.state}`
      : 'analysis    no schedule (it starts when the product is active)',
  ];
  const cycles = [...(status.analysisCycles ?? [])].reverse();
  if (cycles.length === 0) lines.push(noCycleYet(status.productId, schedule));
  for (const cycle of cycles) {
    const failed = cycle.breaches.map(
      (b) =>
        `${b.rule} ${b.failing} failing${b.examples.length > 0 ? ` (${short(b.examples.slice(0, 3).join(', '), 40)})` : ''}`,
    );
    lines.push(
      `  ${cycle.at}  ${cycle.outcome}` +
        (cycle.snapshotId ? ` at snapshot ${cycle.snapshotId}, ${cycle.rows} rows` : '') +
        (failed.length > 0 ? `: ${failed.join('; ')}` : '') +
        (cycle.findings.length > 0
          ? `; ${cycle.findings.length} finding${cycle.findings.length === 1 ? '' : 's'}`
          : '') +
        (cycle.proposals.length > 0
          ? `; ${cycle.proposals.length} proposal${cycle.proposals.length === 1 ? '' : 's'}`
          : ''),
    );
  }
  const waiting = status.pendingCycles?.length ?? 0;
  if (waiting > 0) lines.push(`  ${waiting} cycle${waiting === 1 ? '' : 's'} received, being confirmed`);
  return lines;
}
