import assert from 'node:assert/strict';
import {
  internalNamesUsed,
  lineageFromText,
  statementKindProblems,
  tokenize,
} from '../../src/creation/sql-text';

const inputs = [
  { alias: 'orders', fields: ['order_id', 'customer_id', 'total_amount', 'order_ts', 'status'] },
  { alias: 'payments', fields: ['payment_id', 'order_id', 'amount', 'paid_at'] },
];

describe('SQL text: statement kind', () => {
  const accepted = [
    'SELECT order_id FROM orders',
    'select order_id from orders;',
    '  SELECT order_id FROM orders ;  ',
    'WITH big AS (SELECT * FROM orders WHERE total_amount > 100) SELECT order_id FROM big',
    "SELECT o.order_id, p.amount FROM orders o JOIN payments p ON o.order_id = p.order_id AND p.paid_at BETWEEN o.order_ts - INTERVAL '1' HOUR AND o.order_ts + INTERVAL '1' HOUR",
    "SELECT window_start, COUNT(*) AS n FROM TABLE(TUMBLE(TABLE orders, DESCRIPTOR(order_ts), INTERVAL '1' HOUR)) GROUP BY window_start, window_end",
    '(SELECT order_id FROM orders) UNION ALL (SELECT order_id FROM payments)',
    "SELECT 'INSERT INTO x; DROP TABLE y' AS text FROM orders -- CREATE TABLE in a comment\n",
    'SELECT /* SET x = 1; */ order_id FROM orders',
    'SELECT TRUNCATE(total_amount, 0) AS whole, o.`update` FROM orders o',
    'SELECT `set`, `drop` FROM orders',
    'SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY order_ts DESC) AS rn FROM orders) WHERE rn = 1',
    'SELECT order_id FROM orders ORDER BY order_ts DESC, order_id ASC',
    "SELECT /*+ STATE_TTL(orders = '1d') */ order_id FROM orders",
  ];
  for (const sql of accepted) {
    it(`accepts ${sql.replace(/\s+/g, ' ').slice(0, 70)}`, () => {
      assert.deepEqual(statementKindProblems(sql), []);
    });
  }

  const refused: Array<[string, RegExp]> = [
    ["CREATE TABLE t (a INT) WITH ('connector' = 'datagen')", /starting with SELECT or WITH, not 'CREATE'/],
    ['INSERT INTO sink SELECT * FROM orders', /contains INSERT/],
    ['SELECT 1 FROM orders; SELECT 2 FROM orders', /more than one statement/],
    ['SELECT 1 FROM orders; DROP TABLE orders', /more than one statement[\s\S]*contains DROP/],
    ["SET 'table.dynamic-table-options.enabled' = 'true'", /not 'SET'/],
    ['RESET', /not 'RESET'/],
    ["CREATE FUNCTION f AS 'com.evil.F'", /contains CREATE/],
    ['EXECUTE STATEMENT SET BEGIN INSERT INTO s SELECT 1; END', /contains BEGIN, EXECUTE, INSERT, SET/],
    ["CALL sys.procedure('x')", /not 'CALL'/],
    ['LOAD MODULE hive', /contains LOAD, MODULE/],
    ['UNLOAD MODULE core', /contains MODULE, UNLOAD/],
    ["ADD JAR '/tmp/evil.jar'", /contains ADD, JAR/],
    ['USE CATALOG other', /not 'USE'/],
    ['SHOW TABLES', /not 'SHOW'/],
    ['EXPLAIN SELECT * FROM orders', /not 'EXPLAIN'/],
    ['DESCRIBE orders', /not 'DESCRIBE'/],
    ["ALTER TABLE orders SET ('topic' = 'x')", /not 'ALTER'/],
    ['DROP TEMPORARY VIEW orders', /not 'DROP'/],
    ['WITH x AS (SELECT * FROM orders) INSERT INTO sink SELECT * FROM x', /contains INSERT/],
    ["SELECT * FROM orders /*+ OPTIONS('topic'='secrets') */", /hint .*OPTIONS.* remove the OPTIONS hint/],
    ['', /empty/],
    [' ; ', /empty/],
    ["SELECT 'unclosed FROM orders", /does not scan: a string literal is not closed/],
    ['SELECT (1 FROM orders', /does not scan: a '\(' is not closed/],
    ['SELECT 1) FROM orders', /does not scan/],
    ['SELECT 1 /* open', /does not scan/],
    ['VALUES (1)', /not 'VALUES'/],
  ];
  for (const [sql, reason] of refused) {
    it(`refuses ${JSON.stringify(sql.slice(0, 60))}`, () => {
      const problems = statementKindProblems(sql);
      assert.ok(problems.length > 0, 'a problem');
      assert.match(problems.join('\n'), reason);
    });
  }

  it('keeps quoted names, strings and hints as single tokens with their depth', () => {
    const tokens = tokenize("SELECT `a``b`, 'it''s' FROM t /*+ OPTIONS('x'='y') */ WHERE f(g(1)) > 2");
    assert.deepEqual(
      tokens.filter((t) => t.kind !== 'symbol').map((t) => [t.kind, t.text]),
      [
        ['word', 'SELECT'],
        ['quoted', 'a`b'],
        ['string', "'it''s'"],
        ['word', 'FROM'],
        ['word', 'T'],
        ['hint', "OPTIONS('x'='y')"],
        ['word', 'WHERE'],
        ['word', 'F'],
        ['word', 'G'],
        ['number', '1'],
        ['number', '2'],
      ],
    );
    assert.equal(tokens.find((t) => t.text === '1')?.depth, 2);
  });

  it('reads comments as Flink 1.20 does: `--` and `//` end at \\n or \\r, /* */ does not nest', () => {
    const words = (sql: string) => tokenize(sql).map((t) => t.text);
    assert.deepEqual(words('SELECT a -- x\rFROM t'), ['SELECT', 'A', 'FROM', 'T']);
    assert.deepEqual(words('SELECT a -- x\r\nFROM t'), ['SELECT', 'A', 'FROM', 'T']);
    assert.deepEqual(words('SELECT a // x\nFROM t // y'), ['SELECT', 'A', 'FROM', 'T']);
    assert.deepEqual(words('SELECT a // x\rFROM t'), ['SELECT', 'A', 'FROM', 'T']);
    assert.deepEqual(words("SELECT a // '\nFROM t -- '"), ['SELECT', 'A', 'FROM', 'T']);
    assert.deepEqual(words('SELECT a /* x /* y */ FROM t'), ['SELECT', 'A', 'FROM', 'T']);
    // Inside strings and quoted names, comment marks are text.
    assert.deepEqual(words("SELECT '--', `//` FROM t"), ['SELECT', "'--'", ',', '//', 'FROM', 'T']);
    // What a comment hid from the old reading is now a second statement, or an internal name.
    assert.match(
      statementKindProblems('SELECT a FROM t -- x\r; DROP TABLE t').join(' '),
      /more than one statement/,
    );
    assert.deepEqual(
      internalNamesUsed("SELECT a FROM t // '\nUNION ALL SELECT payload FROM meshloop_source_t -- '"),
      ['meshloop_source_t'],
    );
  });

  it("names the platform's own tables used in the text", () => {
    assert.deepEqual(internalNamesUsed('SELECT payload FROM meshloop_source_orders'), [
      'meshloop_source_orders',
    ]);
    assert.deepEqual(internalNamesUsed('SELECT * FROM orders'), []);
  });
});

describe('SQL text: column lineage', () => {
  const lineage = (sql: string) =>
    lineageFromText(sql, inputs)?.map(
      (c) => `${c.column} <- ${c.from.map((f) => `${f.input}.${f.field}`).join(' ')}`,
    );

  it('traces an interval join with aliases, expressions and names without AS', () => {
    assert.deepEqual(
      lineage(
        `SELECT o.order_id, o.total_amount, p.amount AS amount_paid, o.order_ts,
           p.amount - o.total_amount AS difference, UPPER(o.status) status, payment_id
         FROM orders AS o
         JOIN payments p ON o.order_id = p.order_id
          AND p.paid_at BETWEEN o.order_ts - INTERVAL '1' HOUR AND o.order_ts + INTERVAL '1' HOUR`,
      ),
      [
        'order_id <- orders.order_id',
        'total_amount <- orders.total_amount',
        'amount_paid <- payments.amount',
        'order_ts <- orders.order_ts',
        'difference <- orders.total_amount payments.amount',
        'status <- orders.status',
        'payment_id <- payments.payment_id',
      ],
    );
  });

  it('traces a window TVF aggregate: window columns come from the time column', () => {
    assert.deepEqual(
      lineage(
        `SELECT window_start, window_end, COUNT(*) AS order_count, SUM(total_amount) AS revenue,
                CAST(window_start AS DATE) AS day
         FROM TABLE(TUMBLE(TABLE orders, DESCRIPTOR(order_ts), INTERVAL '1' HOUR))
         GROUP BY window_start, window_end`,
      ),
      [
        'window_start <- orders.order_ts',
        'window_end <- orders.order_ts',
        'order_count <- ',
        'revenue <- orders.total_amount',
        'day <- orders.order_ts',
      ],
    );
  });

  it('expands * and alias.*, and resolves CTEs and derived tables', () => {
    assert.deepEqual(lineage('SELECT * FROM payments'), [
      'payment_id <- payments.payment_id',
      'order_id <- payments.order_id',
      'amount <- payments.amount',
      'paid_at <- payments.paid_at',
    ]);
    assert.deepEqual(
      lineage(
        `WITH paid AS (SELECT order_id AS oid, SUM(amount) AS paid FROM payments GROUP BY order_id)
         SELECT o.order_id, x.paid, big.total
         FROM orders o
         JOIN paid x ON x.oid = o.order_id
         JOIN (SELECT order_id, total_amount * 2 AS total FROM orders) AS big ON big.order_id = o.order_id`,
      ),
      ['order_id <- orders.order_id', 'paid <- payments.amount', 'total <- orders.total_amount'],
    );
    assert.deepEqual(
      lineage('SELECT p.*, o.status FROM payments p, orders o WHERE p.order_id = o.order_id')?.at(-1),
      ['status <- orders.status'][0],
    );
  });

  it('traces a Top-N over a derived table without an alias', () => {
    assert.deepEqual(
      lineage(
        'SELECT order_id, rn FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY order_ts DESC) AS rn FROM orders) WHERE rn = 1',
      ),
      ['order_id <- orders.order_id', 'rn <- orders.customer_id orders.order_ts'],
    );
  });

  it('merges the branches of a UNION by position', () => {
    assert.deepEqual(lineage('SELECT order_id AS id FROM orders UNION ALL SELECT payment_id FROM payments'), [
      'id <- orders.order_id payments.payment_id',
    ]);
  });

  it('masking functions keep the source field; literals read nothing', () => {
    assert.deepEqual(
      lineage(
        "SELECT SHA2(customer_id, 256) AS customer_hash, 'x' AS constant, CASE WHEN status = 'paid' THEN 1 ELSE 0 END AS paid FROM orders",
      ),
      ['customer_hash <- orders.customer_id', 'constant <- ', 'paid <- orders.status'],
    );
  });

  it('tells a column copied as it is from a computed one', () => {
    const traced = lineageFromText(
      'SELECT o.customer_id, status, SHA2(customer_id, 256) AS hashed, x.amount FROM orders o, (SELECT amount FROM payments) x',
      inputs,
    );
    assert.deepEqual(
      traced?.map((c) => [c.column, c.direct]),
      [
        ['customer_id', true],
        ['status', true],
        ['hashed', false],
        ['amount', true],
      ],
    );
  });

  it('gives up (undefined) on a relation that is not an input rather than guess', () => {
    assert.equal(lineageFromText('SELECT * FROM secrets', inputs), undefined);
    assert.equal(lineageFromText("SELECT 'open FROM orders", inputs), undefined);
  });
});
