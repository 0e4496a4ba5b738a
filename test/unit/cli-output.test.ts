import assert from 'node:assert/strict';
import { passedDeadline } from '../../src/cli/errors';
import { formatIdeaLineage } from '../../src/cli/idea-lineage';
import { table, visible } from '../../src/cli/output';
import { formatStatus } from '../../src/cli/product-commands';
import type { ProductStatus } from '../../workflows/definitions';
import { validSpec } from '../helpers/specs';

/** Nothing a terminal acts on: C0 (but the lines we join with), DEL, C1, separators, bidi controls. */
const controls =
  // eslint-disable-next-line no-control-regex
  /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\u061c]/;

describe('meshloop show escapes control characters', () => {
  it('shows each control character as an escape, and backslashes doubled when it does', () => {
    assert.equal(visible('plain text, a \\d regex'), 'plain text, a \\d regex');
    assert.equal(visible('a\rb'), 'a\\rb');
    assert.equal(visible('a\nstage       active'), 'a\\nstage       active');
    assert.equal(visible('\u001b[2J\u001b[31mred'), '\\e[2J\\e[31mred');
    assert.equal(visible('tab\there'), 'tab\\there');
    assert.equal(visible('x\u0000y\u0007z\u0008'), 'x\\u0000y\\u0007z\\u0008');
    assert.equal(visible('del\u007f c1\u009b'), 'del\\u007f c1\\u009b');
    assert.equal(visible('abc\u202edcba'), 'abc\\u202edcba');
    assert.equal(visible('\u2066iso\u2069 \u2028sep\u2029'), '\\u2066iso\\u2069 \\u2028sep\\u2029');
    assert.equal(
      visible('a\\rb\r'),
      'a\\\\rb\\r',
      'a literal backslash-r is told apart from a carriage return',
    );
    assert.equal(visible('naïve café 東京 🙂'), 'naïve café 東京 🙂');
  });

  it('formats a product whose spec, decisions and errors carry control characters: one line per entry, none raw', () => {
    const spec = validSpec({
      description: 'Revenue\r\u001b[1Astage       active\u001b[0m',
      owner: 'alice\u202e',
      sql: 'SELECT day, SUM(amount) AS revenue FROM o -- note\r UNION SELECT * FROM raw\nGROUP BY day\u0007',
    });
    const at = '2026-01-01T00:00:00.000Z';
    const status = {
      productId: 'orders.daily_revenue',
      stage: 'awaitingApproval',
      spec,
      revision: 1,
      approvals: [],
      decisions: [
        {
          by: 'bob',
          action: 'requestChanges',
          at,
          revision: 1,
          stage: 'awaitingApproval',
          comment: 'ok\u001b]0;owned\u0007',
        },
      ],
      ignored: [],
      policyViolations: [],
      resources: [{ kind: 'topic', name: 'orders.daily_revenue\u0085', created: true, at }],
      sqlProblems: ['line 1\rcolumn 3'],
      lastError: { type: 'Failure', message: 'boom\u001b[2K', at },
      remindersSent: 0,
      continuedAsNew: 0,
      proposedAt: at,
      updatedAt: at,
    } as unknown as ProductStatus;
    const out = formatStatus(status);
    assert.doesNotMatch(out, controls, JSON.stringify(out));
    const lines = out.split('\n');
    assert.ok(lines.includes('description Revenue\\r\\e[1Astage       active\\e[0m'), out);
    assert.ok(lines.some((line) => line.includes('owner alice\\u202e')));
    // The SQL keeps its own lines; the carriage return Flink reads as a line end is shown.
    assert.ok(
      lines.includes('  SELECT day, SUM(amount) AS revenue FROM o -- note\\r UNION SELECT * FROM raw'),
      out,
    );
    assert.ok(lines.includes('  GROUP BY day\\u0007'));
    assert.ok(lines.some((line) => line.endsWith(': ok\\e]0;owned\\u0007')));
    assert.ok(lines.some((line) => line.includes('orders.daily_revenue\\u0085')));
    assert.ok(lines.includes('last error  Failure: boom\\e[2K'));
    assert.equal(lines.filter((line) => line.startsWith('stage ')).length, 1);
  });

  it('escapes table cells (meshloop list) and the idea lineage', () => {
    const listed = table([
      ['PRODUCT', 'OWNER'],
      ['orders.x', 'mallory\r\u001b[2K'],
    ]);
    assert.doesNotMatch(listed, controls);
    assert.match(listed, /mallory\\r\\e\[2K/);
    const lineage = formatIdeaLineage({ parent: 'orders.p\u001b[8m', children: [] });
    assert.doesNotMatch(lineage, controls);
    assert.match(lineage, /orders\.p\\e\[8m/);
  });
});

describe('meshloop: a request that passed its MESHLOOP_CLI_TIMEOUT deadline', () => {
  const grpcError = (code: number) => Object.assign(new Error('x'), { name: 'ServiceError', code });

  it('is a deadline whether the client saw DEADLINE_EXCEEDED or the server reset the stream (CANCELLED)', () => {
    const passed = Date.now() - 1;
    assert.equal(passedDeadline(grpcError(4), passed), true);
    assert.equal(passedDeadline(grpcError(1), passed), true);
    assert.equal(passedDeadline({ cause: grpcError(1) }, passed), true);
  });

  it('is not a deadline when cancelled early, or for another failure', () => {
    const ahead = Date.now() + 60_000;
    assert.equal(passedDeadline(grpcError(1), ahead), false);
    assert.equal(passedDeadline(grpcError(14), Date.now() - 1), false);
    assert.equal(passedDeadline(new Error('plain'), Date.now() - 1), false);
  });
});
