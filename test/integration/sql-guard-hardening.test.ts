import assert from 'node:assert/strict';
import { SqlGatewayClient } from '../../src/adapters/flink';
import type { MeshloopConfig } from '../../src/config';
import { checkProductSql, checkSpecSql } from '../../src/creation/guard';
import type { UpstreamProduct } from '../../src/creation/inputs';
import { inputBindingsOf, upstreamFromCatalog } from '../../src/creation/inputs';
import { guardedSessionProperties, inputStatements } from '../../src/creation/job-sql';
import { planLineage, viewSignatureOf } from '../../src/creation/sql-plan';
import { tokenize } from '../../src/creation/sql-text';
import { createSqlGuardActivities } from '../../activities/creation-guard';
import { ensureCatalogTopic, publishCatalogRecord } from '../../src/adapters/kafka/catalog';
import { createKafkaClient } from '../../src/adapters/kafka/client';
import { toCatalogDescriptor } from '../../src/domain/catalog';
import type { SqlCheckResult } from '../../src/domain/creation';
import type { Decision, Stage } from '../../src/domain/lifecycle';
import type { ProductSpec, ProductSpecInput } from '../../src/domain/spec';
import { parseSpec } from '../../src/domain/spec';
import { createLogger } from '../../src/log';
import { planProposals } from '../../src/agents/planner';
import { analyseProduct } from '../../src/analysis/analyst';
import { productIdOf } from '../../src/domain/spec';
import { demoMesh, demoProfiles } from '../helpers/demo-profiles';
import { testPlatform } from '../helpers/platform';

/**
 * Issue 19, items 4–6, on the real Flink SQL Gateway: the guard reads SQL as Flink does, trusts
 * Flink's plan for what a query reads and computes, checks masking for every derivation, and
 * reads only approved, live products as inputs. Validation only: no job runs.
 */
describe('the SQL guard reads what Flink runs (real SQL Gateway)', function () {
  this.timeout(120_000);
  let config: MeshloopConfig;
  let gateway: SqlGatewayClient;

  before(async function () {
    this.timeout(15 * 60_000);
    config = await testPlatform();
    gateway = new SqlGatewayClient({ url: config.flink.sqlGatewayUrl });
  });

  const profilesInput = {
    topic: 'customers.profiles',
    schema: {
      fields: [
        { name: 'customer_id', type: 'string' },
        { name: 'email', type: 'string' },
        { name: 'country', type: 'string' },
        { name: 'updated_at', type: 'timestamp' },
      ],
      eventTimeField: 'updated_at',
    },
  } as const;

  /** A product of profiles whose listed output columns are personal and masked by `strategy`. */
  function masked(
    sql: string,
    columns: Record<string, 'hash' | 'tokenize' | 'truncate' | 'redact'> = { email: 'hash' },
    overrides: Partial<ProductSpecInput> = {},
  ): ProductSpec {
    return parseSpec({
      name: 'profiles_masked',
      domain: 'customers',
      owner: 'customers-lead',
      kind: 'source-aligned',
      inputs: [profilesInput],
      schema: {
        fields: [
          { name: 'customer_id', type: 'string' },
          ...Object.keys(columns).map((name) => ({ name, type: 'string' as const, pii: true })),
        ],
      },
      classification: {
        pii: true,
        level: 'confidential',
        masking: Object.entries(columns).map(([field, strategy]) => ({ field, strategy })),
      },
      sql,
      ...overrides,
    });
  }

  const check = (spec: ProductSpec, lookup: (id: string) => UpstreamProduct | undefined = () => undefined) =>
    checkSpecSql({ gateway, connectors: config.flink }, spec, lookup);

  async function refused(spec: ProductSpec, ...reasons: RegExp[]): Promise<SqlCheckResult> {
    const result = await check(spec);
    assert.equal(result.ok, false, `expected a refusal, got ${JSON.stringify(result.lineage)}`);
    assert.deepEqual(result.lineage, []);
    for (const reason of reasons) assert.match(result.problems.join('\n'), reason);
    return result;
  }

  async function accepted(spec: ProductSpec, lookup?: (id: string) => UpstreamProduct | undefined) {
    const result = await check(spec, lookup);
    assert.deepEqual(result.problems, []);
    assert.equal(result.ok, true);
    return result;
  }

  describe('comments, as Flink 1.20 reads them', () => {
    // The hidden part: a second SELECT that copies the raw email into the product.
    const hidden = 'UNION ALL SELECT customer_id, email FROM profiles';
    const hashedSelect = 'SELECT customer_id, SHA2(email, 256) AS email FROM profiles';
    const rawEmail =
      /'email' is personal data the spec masks \(hash\), but the SQL computes it from profiles\.email other than through SHA2/;

    it('Flink itself: `--` ends at \\r, `//` is a comment anywhere on a line, /* */ does not nest', async () => {
      const session = await gateway.openSession({
        name: 'meshloop-guard-test',
        properties: guardedSessionProperties,
        heartbeatIntervalMs: false,
      });
      try {
        const rows = async (sql: string) => (await session.execute(sql)).rows.map((r) => Object.values(r)[0]);
        assert.deepEqual(await rows('SELECT 1 AS a -- c\rUNION ALL SELECT 2'), [1, 2]);
        assert.deepEqual(await rows('SELECT 1 AS a // c\nUNION ALL SELECT 2 // UNION ALL SELECT 3'), [1, 2]);
        await assert.rejects(session.execute('SELECT 1 AS a /* x /* y */ z */'), /Encountered "\*\/"|parse/i);
        assert.deepEqual(await rows('SELECT 1 AS a /* x /* y */ UNION ALL SELECT 2 /* */'), [1, 2]);
      } finally {
        await session.close();
      }
      // The guard's tokenizer agrees.
      const words = (sql: string) => tokenize(sql).map((t) => t.text);
      assert.deepEqual(words('SELECT 1 -- c\rUNION'), ['SELECT', '1', 'UNION']);
      assert.deepEqual(words("SELECT 1 // '\nUNION -- '"), ['SELECT', '1', 'UNION']);
      assert.deepEqual(words('SELECT /* a /* b */ 1 /* */'), ['SELECT', '1']);
    });

    it('refuses a UNION hidden behind a `--` comment ended by a carriage return, wherever it sits', async () => {
      await refused(masked(`${hashedSelect} -- a note\r${hidden}`), rawEmail);
      await refused(masked(`${hashedSelect} --\r\n${hidden} -- trailing`), rawEmail);
      await refused(
        masked(`SELECT customer_id, email FROM (${hashedSelect} -- inner\r${hidden}) AS t`),
        rawEmail,
      );
    });

    it('refuses a UNION that a `//` line or quote in a comment would hide from a tokenizer that misreads them', async () => {
      await refused(masked(`${hashedSelect} // '\n${hidden} -- '`), rawEmail);
      await refused(masked(`${hashedSelect} // \`\n${hidden} -- \``), rawEmail);
      await refused(masked(`${hashedSelect} /* /* nested? */ ${hidden} /* */`), rawEmail);
    });

    it("refuses the raw source table behind an input, by its text and by Flink's plan", async () => {
      await refused(
        masked(`${hashedSelect} --\rUNION ALL SELECT payload, payload FROM meshloop_source_profiles`),
        /platform's own tables/,
      );
      // The plan reader on its own: a scan not under the input's declared view is refused.
      const session = await gateway.openSession({
        name: 'meshloop-guard-test',
        properties: guardedSessionProperties,
        heartbeatIntervalMs: false,
      });
      try {
        const [binding] = inputBindingsOf(masked(hashedSelect), () => undefined).bindings;
        for (const statement of inputStatements(binding!, { connectors: config.flink, groupId: 'g' }))
          await session.configure(statement);
        const explain = async (sql: string) =>
          String(Object.values((await session.execute(sql)).rows[0]!)[0]);
        const view = viewSignatureOf(await explain('EXPLAIN SELECT * FROM profiles'), {
          alias: 'profiles',
          fields: binding!.fields.map((f) => f.name),
        });
        assert.throws(() => planLineage('no plan here', [view]), /no abstract syntax tree/);
        const raw = await explain(
          `EXPLAIN SELECT customer_id, email FROM profiles UNION ALL SELECT customer_id, payload FROM meshloop_source_profiles`,
        );
        assert.throws(
          () => planLineage(raw, [view]),
          /reads the table default_catalog\.default_database\.meshloop_source_profiles other than through a declared input's view/,
        );
        // Re-creating the view's filter by hand is the view: that read is the input's.
        const lineage = planLineage(await explain('EXPLAIN SELECT country AS c FROM profiles'), [view]);
        assert.deepEqual(lineage.columns, [
          { name: 'c', from: [{ input: 'profiles', field: 'country', via: 'raw' }] },
        ]);
      } finally {
        await session.close();
      }
    });
  });

  describe('masking, for every derivation', () => {
    it('refuses each function that passes a personal field through unmasked, column by column', async () => {
      const evasions: Record<string, string> = {
        lowered: 'LOWER(email)',
        casted: 'CAST(email AS STRING)',
        concat: "CONCAT(email, '')",
        coalesced: "COALESCE(email, '')",
        trimmed: 'TRIM(email)',
        cased: "CASE WHEN email LIKE '%@gmail.com' THEN 'g' ELSE 'o' END",
        unhashed_else: 'CASE WHEN email IS NULL THEN NULL ELSE UPPER(email) END',
        one_bit: "CASE WHEN NULLIF(email, 'a@b.c') IS NULL THEN 'y' ELSE 'n' END",
        piped: "SHA2(email, 256) || '/' || email",
        reversed: 'REVERSE(email)',
        long_left: 'LEFT(email, 40)',
        overlaid: "REGEXP_REPLACE(email, '@.*', '')",
      };
      const spec = masked(
        `SELECT customer_id, ${Object.entries(evasions)
          .map(([name, expression]) => `${expression} AS ${name}`)
          .join(', ')} FROM profiles`,
        Object.fromEntries(Object.keys(evasions).map((name) => [name, 'hash' as const])),
      );
      const result = await refused(spec);
      for (const name of Object.keys(evasions))
        assert.match(
          result.problems.join('\n'),
          new RegExp(`'${name}' is personal data the spec masks \\(hash\\)`),
        );
      assert.equal(result.problems.length, Object.keys(evasions).length, result.problems.join('\n'));
    });

    it('refuses evasions through a CTE, a derived table, a self-join, an aggregate and a window', async () => {
      const rawEmail =
        /'email' is personal data the spec masks \(hash\), but the SQL computes it from profiles\.email/;
      await refused(
        masked(
          'WITH t AS (SELECT customer_id, UPPER(email) AS e FROM profiles) SELECT customer_id, e AS email FROM t',
        ),
        rawEmail,
      );
      await refused(
        masked('SELECT customer_id, x.e AS email FROM (SELECT customer_id, email AS e FROM profiles) x'),
        rawEmail,
      );
      await refused(
        masked(
          'SELECT a.customer_id, b.email FROM profiles a JOIN profiles b ON a.customer_id = b.customer_id',
        ),
        rawEmail,
      );
      await refused(
        masked(
          `SELECT CAST(window_start AS STRING) AS customer_id, MAX(email) AS email
FROM TABLE(TUMBLE(TABLE profiles, DESCRIPTOR(updated_at), INTERVAL '1' HOUR)) GROUP BY window_start, window_end`,
        ),
        rawEmail,
      );
    });

    it('refuses a column whose lineage it cannot establish (a sub-query, VALUES, a LATERAL/UNNEST)', async () => {
      const unknown =
        /the guard cannot establish from Flink's plan what each column is computed from, so the SQL is refused/;
      // (An upsert product: Flink plans the sub-query's join as updating.)
      await refused(
        masked(
          'SELECT customer_id, (SELECT MAX(SHA2(email, 256)) FROM profiles) AS email FROM profiles',
          undefined,
          {
            schema: {
              fields: [
                { name: 'customer_id', type: 'string' },
                { name: 'email', type: 'string', pii: true },
              ],
              key: ['customer_id'],
            },
            outputTopic: { cleanupPolicy: 'compact' },
          },
        ),
        unknown,
        /'email' is computed by a sub-query/,
      );
      await refused(
        masked("SELECT customer_id, SHA2(email, 256) AS email FROM profiles UNION ALL VALUES ('a', 'b')"),
        unknown,
        /LogicalValues/,
      );
      await refused(
        masked(
          "SELECT customer_id, SHA2(t.part, 256) AS email FROM profiles CROSS JOIN UNNEST(SPLIT(email, '@')) AS t(part)",
        ),
        unknown,
      );
    });

    it('accepts each declared masking function (as the planner writes them too), also over other functions, a null check, and a filter (and a sub-query in it) on a personal field', async () => {
      const result = await accepted(
        masked(
          `SELECT customer_id, SHA2(LOWER(TRIM(email)), 256) AS email, SUBSTRING(SHA2(email, 256), 1, 16) AS token,
  RIGHT(email, 4) AS tail, CAST(NULL AS STRING) AS gone,
  CASE WHEN email IS NULL THEN CAST(NULL AS STRING) ELSE 'REDACTED' END AS flagged,
  CASE WHEN email IS NULL THEN NULL ELSE CAST(SHA256(email) AS STRING) END AS hashed,
  CONCAT('****', RIGHT(REGEXP_REPLACE(email, '[^0-9]', ''), 4)) AS card
FROM profiles WHERE email LIKE '%@example.com'
  AND customer_id IN (SELECT customer_id FROM profiles WHERE country = 'NL')`,
          {
            email: 'hash',
            token: 'tokenize',
            tail: 'truncate',
            gone: 'redact',
            flagged: 'redact',
            hashed: 'hash',
            card: 'truncate',
          },
        ),
      );
      assert.deepEqual(result.lineage, [
        { column: 'customer_id', from: [{ input: 'profiles', field: 'customer_id' }] },
        { column: 'email', from: [{ input: 'profiles', field: 'email' }] },
        { column: 'token', from: [{ input: 'profiles', field: 'email' }] },
        { column: 'tail', from: [{ input: 'profiles', field: 'email' }] },
        { column: 'gone', from: [] },
        { column: 'flagged', from: [{ input: 'profiles', field: 'email' }] },
        { column: 'hashed', from: [{ input: 'profiles', field: 'email' }] },
        { column: 'card', from: [{ input: 'profiles', field: 'email' }] },
      ]);
      // A hash is no truncation's stand-in the other way round: a tokenized column must be hashed.
      await refused(
        masked('SELECT customer_id, RIGHT(email, 4) AS token FROM profiles', { token: 'tokenize' }),
        /'token' is personal data the spec masks \(tokenize\)/,
      );
      await refused(
        masked('SELECT customer_id, SHA2(email, 256) AS gone FROM profiles', { gone: 'redact' }),
        /'gone' is personal data the spec redacts, but the SQL computes it from profiles\.email/,
      );
    });

    it('follows a topic field declared pii into any column, hashed or not', async () => {
      const piiInput = {
        ...profilesInput,
        schema: {
          ...profilesInput.schema,
          fields: profilesInput.schema.fields.map((f) => (f.name === 'email' ? { ...f, pii: true } : f)),
        },
      };
      const spec = (sql: string) =>
        parseSpec({
          name: 'profile_countries',
          domain: 'customers',
          owner: 'customers-lead',
          kind: 'source-aligned',
          inputs: [piiInput],
          schema: {
            fields: [
              { name: 'country', type: 'string' },
              { name: 'contact', type: 'string' },
            ],
          },
          sql,
        });
      const notMasked =
        /the column 'contact' is computed from personal data \(profiles\.email\), but the spec does not mask it/;
      await refused(spec('SELECT country, email AS contact FROM profiles'), notMasked);
      await refused(spec("SELECT country, CONCAT(country, '-', email) AS contact FROM profiles"), notMasked);
      await refused(spec('SELECT country, SHA2(email, 256) AS contact FROM profiles'), notMasked);
      await accepted(spec('SELECT country, customer_id AS contact FROM profiles'));
    });
  });

  describe('product inputs', () => {
    const upstreamSpec = masked(
      'SELECT customer_id, SHA2(email, 256) AS email, country FROM profiles',
      { email: 'hash' },
      {
        name: 'customer_contacts',
        schema: {
          fields: [
            { name: 'customer_id', type: 'string' },
            { name: 'email', type: 'string', pii: true },
            { name: 'phone', type: 'string', pii: true },
          ],
        },
        classification: {
          pii: true,
          level: 'confidential',
          masking: [
            { field: 'email', strategy: 'hash' },
            { field: 'phone', strategy: 'none' },
          ],
        },
      },
    );
    const reader = (sql: string, masking: Array<{ field: string; strategy: 'hash' }> = []) =>
      parseSpec({
        name: 'contact_reader',
        domain: 'customers',
        owner: 'customers-lead',
        kind: 'consumer-aligned',
        inputs: [{ product: 'customers.customer_contacts', as: 'contacts' }],
        schema: {
          fields: [
            { name: 'customer_id', type: 'string' },
            { name: 'contact', type: 'string', pii: masking.length > 0 },
          ],
        },
        classification: { pii: masking.length > 0, level: 'confidential', masking },
        sql,
      });
    const lookup = (id: string) => (id === 'customers.customer_contacts' ? upstreamSpec : undefined);

    it('keeps an upstream personal field personal: masked upstream may be copied only into a masked column; raw upstream must be hashed', async () => {
      const copy = reader('SELECT customer_id, email AS contact FROM contacts');
      const result = await check(copy, lookup);
      assert.match(
        result.problems.join('\n'),
        /the column 'contact' is computed from personal data \(contacts\.email\), but the spec does not mask it/,
      );
      await accepted(
        reader('SELECT customer_id, email AS contact FROM contacts', [
          { field: 'contact', strategy: 'hash' },
        ]),
        lookup,
      );
      const rawPhone = await check(
        reader('SELECT customer_id, LOWER(phone) AS contact FROM contacts', [
          { field: 'contact', strategy: 'hash' },
        ]),
        lookup,
      );
      assert.match(
        rawPhone.problems.join('\n'),
        /'contact' is personal data the spec masks \(hash\), but the SQL computes it from contacts\.phone other than through SHA2/,
      );
      await accepted(
        reader('SELECT customer_id, SHA2(phone, 256) AS contact FROM contacts', [
          { field: 'contact', strategy: 'hash' },
        ]),
        lookup,
      );
    });

    it('resolves a product input only to an active or deprecated product with its spec approved, from the catalog (as an activity)', async () => {
      const kafka = createKafkaClient({ connection: config.kafka, clientId: 'sql-guard-hardening-test' });
      const catalogTopic = `_meshloop.catalog-guard-hardening-${Date.now()}`;
      await ensureCatalogTopic(kafka, catalogTopic);
      const producer = kafka.producer();
      await producer.connect();
      const at = new Date().toISOString();
      const decision = (action: Decision['action'], stage: Stage, revision = 1): Decision => ({
        by: 'alice',
        action,
        at,
        revision,
        stage,
      });
      const approved = [
        decision('propose', 'proposed'),
        decision('approve', 'provisioning'),
        decision('provision', 'active'),
      ];
      // Each upstream writes the raw personal topic: only the approved, live ones may be read.
      const raw = {
        ...upstreamSpec,
        outputTopic: { ...upstreamSpec.outputTopic, name: 'customers.profiles' },
      };
      const products: Array<[string, Stage, Decision[], string | undefined]> = [
        ['live', 'active', approved, undefined],
        ['old', 'deprecated', [...approved, decision('deprecate', 'deprecated')], undefined],
        ['proposal', 'proposed', [decision('propose', 'proposed')], 'is proposed'],
        ['waiting', 'awaitingApproval', [decision('policyCheck', 'awaitingApproval')], 'is awaitingApproval'],
        ['gone', 'retired', [...approved, decision('retire', 'retired')], 'is retired'],
        ['broken', 'failed', [...approved, decision('fail', 'failed')], 'is failed'],
        ['unapproved', 'active', [decision('propose', 'proposed')], 'has no approval of its current spec'],
        [
          'amended',
          'active',
          [...approved, decision('propose', 'proposed', 2)],
          'has no approval of its current spec \\(revision 2\\)',
        ],
      ];
      try {
        for (const [name, stage, decisions] of products) {
          await publishCatalogRecord(
            producer,
            toCatalogDescriptor({
              spec: { ...raw, name },
              stage,
              decisions,
              resources: [],
              updatedAt: new Date(),
            }),
            catalogTopic,
          );
        }
        const activities = createSqlGuardActivities({
          kafka,
          gateway,
          connectors: config.flink,
          log: createLogger('sql-guard-hardening-test', 'error'),
          catalogTopic,
        });
        for (const [name, , , refusal] of [
          ...products,
          ['nothing', 'active', [], 'is not in the catalog'] as const,
        ]) {
          const spec = parseSpec({
            name: `reads_${name}`,
            domain: 'customers',
            owner: 'customers-lead',
            kind: 'consumer-aligned',
            inputs: [{ product: `customers.${name}`, as: 'up' }],
            schema: { fields: [{ name: 'customer_id', type: 'string' }] },
            sql: 'SELECT customer_id FROM up',
          });
          const result = await activities.checkProductSql({
            productId: `customers.reads_${name}`,
            revision: 1,
            spec,
          });
          if (refusal === undefined) assert.deepEqual(result.problems, [], name);
          else
            assert.match(
              result.problems.join('\n'),
              new RegExp(`inputs\\[0\\]: product 'customers\\.${name}' ${refusal}`),
              name,
            );
        }
        // The pure rule the lookup applies, for the record.
        assert.equal(upstreamFromCatalog(undefined), undefined);
      } finally {
        await producer.disconnect();
        const admin = kafka.admin();
        await admin.connect();
        await admin.deleteTopics({ topics: [catalogTopic] }).catch(() => undefined);
        await admin.disconnect();
      }
    });
  });

  it('checkProductSql with bindings: the personal marks of the bindings are what it follows', async () => {
    const spec = masked(
      'SELECT customer_id, email AS contact FROM profiles',
      {},
      {
        schema: {
          fields: [
            { name: 'customer_id', type: 'string' },
            { name: 'contact', type: 'string' },
          ],
        },
        classification: { pii: false, level: 'internal', masking: [] },
      },
    );
    const { bindings } = inputBindingsOf(spec, () => undefined);
    const plain = await checkProductSql({ gateway, connectors: config.flink }, { spec, inputs: bindings });
    assert.deepEqual(plain.problems, []);
    const personal = bindings.map((b) => ({
      ...b,
      fields: b.fields.map((f) => (f.name === 'email' ? { ...f, personal: 'raw' as const } : f)),
    }));
    const marked = await checkProductSql({ gateway, connectors: config.flink }, { spec, inputs: personal });
    assert.match(marked.problems.join('\n'), /'contact' is computed from personal data \(profiles\.email\)/);
  });

  it("accepts what the mesh's own planner and analyst write with personal data: masking as they write it, through product inputs", async () => {
    const planned = planProposals(demoProfiles(), demoMesh).proposals.map((p) => p.spec);
    const masked = planned.find((s) => productIdOf(s) === 'customers.profiles_masked')!;
    const curated = planned.find((s) => productIdOf(s) === 'orders.orders_curated')!;
    const joined = analyseProduct({
      spec: curated,
      figures: {
        snapshotId: '1',
        rows: 1000,
        fields: curated.schema.fields.map((f) => ({ name: f.name, distinct: 1000, nulls: 0 })),
        ruleHistory: {},
        query: 'SELECT 1',
      },
      neighbours: [
        {
          spec: masked,
          stage: 'active',
          overlaps: [
            { field: 'customer_id', theirField: 'customer_id', containment: 0.99, query: 'SELECT 1' },
          ],
        },
      ],
    }).proposals.map((p) => p.spec);
    const byId = new Map([...planned, ...joined].map((s) => [productIdOf(s), s]));
    const personal = [
      masked,
      ...joined.filter((s) => s.inputs.some((i) => 'product' in i && i.product === productIdOf(masked))),
    ];
    assert.ok(personal.length >= 2, personal.map(productIdOf).join(', '));
    for (const spec of personal) {
      assert.ok(spec.classification.masking.length > 0, productIdOf(spec));
      const result = await check(spec, (id) => byId.get(id));
      assert.deepEqual(result.problems, [], productIdOf(spec));
    }
  });
});
