import { createPrng } from '../../src/seed/generator';

export const lendingStart = Date.UTC(2026, 2, 1);

/**
 * A lending mesh whose topic names say nothing about their keys: loan applications, and credit
 * pulls that refer to them by `application_ref`. A third topic (`archive.loans`) has unique ids of
 * the same shape and even the same field name, but shares no values with either.
 */
export function lendingRecords(options: { applications?: number; prefix?: string } = {}) {
  const prefix = options.prefix ?? '';
  const random = createPrng(11);
  const applications = options.applications ?? 3000;
  const loans = Array.from({ length: applications }, (_, i) => `ln-${String(i + 1).padStart(6, '0')}`);
  const apps = loans.map((loanId, i) => ({
    loan_id: loanId,
    amount: Math.round(1000 + random() * 50_000),
    purpose: ['car', 'home', 'study'][i % 3],
    applied_at: new Date(lendingStart + i * 60_000).toISOString(),
  }));
  const pulls: Array<Record<string, unknown>> = [];
  loans.forEach((loanId, i) => {
    // Not every application gets pulled; some twice.
    const times = random() < 0.2 ? 0 : random() < 0.3 ? 2 : 1;
    for (let t = 0; t < times; t++) {
      pulls.push({
        pull_id: `cp-${pulls.length + 1}`,
        application_ref: loanId,
        bureau: ['experian', 'equifax'][t % 2],
        score: 300 + Math.floor(random() * 550),
        pulled_at: new Date(lendingStart + i * 60_000 + 5000).toISOString(),
      });
    }
  });
  const archive = Array.from({ length: 2000 }, (_, i) => ({
    loan_id: `ln-${String(900_000 + i).padStart(6, '0')}`,
    closed_at: new Date(lendingStart + i * 60_000).toISOString(),
  }));
  return {
    [`${prefix}lending.applications`]: apps,
    [`${prefix}risk.credit-pulls`]: pulls,
    [`${prefix}archive.loans`]: archive,
  } as Record<string, Array<Record<string, unknown>>>;
}
