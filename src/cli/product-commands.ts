import { listingClient } from '../adapters/temporal/listing';
import { executeWhenReady } from '../adapters/temporal/updates';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import type { Command } from 'commander';
import type { MeshloopConfig } from '../config';
import { loadConfig } from '../config';
import { createKafkaClient } from '../adapters/kafka/client';
import { readCatalog } from '../adapters/kafka/catalog';
import { inputAliasOf } from '../domain/creation';
import { CliError, usageError } from './errors';
import { fromTemporal, withClient, workerFor } from './temporal';
import { domainConfigOf } from '../domain/mesh-config';
import { causesOf } from '../domain/product-state';
import { criticCellOfMemo, formatCritique } from '../domain/critique';
import { meshloopSearchAttributes } from '../domain/search-attributes';
import type { ProductSpec } from '../domain/spec';
import { productIdOf, workflowIdOf } from '../domain/spec';
import { loadMeshConfig, loadSpecFile } from '../specs/load';
import type { WorkflowHandle, Client } from '@temporalio/client';
import type { ApprovalSignature } from '../domain/approval-signing';
import { approverKeyFile, loadSigningKey, signForProduct } from '../signing/keys';
import { specHashOf } from '../domain/approval-signing';
import type { ProductStatus } from '../../workflows/definitions';
import {
  dataProductStartOptions,
  dataProductWorkflowType,
  deprecateUpdate,
  getStatusQuery,
  redeployUpdate,
  retireUpdate,
  retryProvisioningUpdate,
  reviewUpdate,
} from '../../workflows/definitions';
import type { dataProductWorkflow } from '../../workflows/data-product';
import { printResult, table, visible } from './output';
import { choiceOption, domainName, jsonOption, nonEmptyText, productArgument } from './options';
import { stages } from '../domain/lifecycle';
import { stat } from 'node:fs/promises';
import { formatRecentCycles } from './analysis-lines';
import { formatTableStatus, productTableStatus } from '../query/product-query';
import { parseDuration } from '../domain/duration';
import { processRecordKey } from '../signing/record-key';
import { formatIdeaLineage, ideaLineageOf } from './idea-lineage';

async function readIdeaLineage(config: MeshloopConfig, productId: string, spec: ProductSpec) {
  const kafka = createKafkaClient({ connection: config.kafka, clientId: 'meshloop-cli' });
  return ideaLineageOf(productId, spec, (await readCatalog(kafka, { timeoutMs: 10_000 })).view);
}

/**
 * With a signing key configured (`--key`, else MESHLOOP_SIGNING_KEY_FILE), sign the act for the
 * product as it is now: its lifetime, its current revision and the content hash of the spec it
 * shows (a newer revision or another spec by the time it arrives makes the workflow refuse it,
 * which is the point). Each signature carries a fresh nonce: usable once.
 */
async function cliSignature(
  config: MeshloopConfig,
  handle: WorkflowHandle,
  act: { kind: 'approval' | 'act'; action: string; by: string; detail?: string },
  keyOption?: string,
): Promise<ApprovalSignature | undefined> {
  const keyFile = keyOption ?? (await approverKeyFile(config));
  if (!keyFile) return undefined;
  const key = await loadSigningKey(keyFile);
  const status = await handle.query(getStatusQuery);
  return signForProduct(key, status, act);
}

const keyOptionHelp = 'the signing key file (default: MESHLOOP_SIGNING_KEY_FILE)';

export { CliError, withClient };

/** Start a product's workflow: the starter resolves approvers and deadlines so the workflow stays deterministic. */
export async function proposeProduct(
  client: Client,
  config: MeshloopConfig,
  spec: ProductSpec,
  options: { taskQueue?: string } = {},
): Promise<{ productId: string; workflowId: string }> {
  const mesh = await loadMeshConfig(config.meshFile);
  const productId = productIdOf(spec);
  // Refused here with the known domains listed; the workflow reads mesh.yaml itself at each decision.
  domainConfigOf(mesh, spec.domain);
  const start = dataProductStartOptions(spec);
  const workflowId = start.workflowId;
  try {
    await client.workflow.start<typeof dataProductWorkflow>(dataProductWorkflowType, {
      taskQueue: options.taskQueue ?? config.temporal.taskQueue,
      ...start,
    });
  } catch (error) {
    if (error instanceof WorkflowExecutionAlreadyStartedError) {
      throw new CliError(`product ${productId} is already proposed`, {
        kind: 'refused',
        hint: `\`meshloop show ${productId}\` shows it; \`meshloop request-changes\` amends its spec`,
      });
    }
    throw error;
  }
  return { productId, workflowId };
}

/** Said once on stderr while an update waits for the product to be ready (stdout stays the answer). */
function waitingNote(reason: string): void {
  process.stderr.write(`waiting: ${reason}\n`);
}

function workflowIdFor(product: string): string {
  return product.startsWith('data-product:') ? product : workflowIdOf(product);
}

/** The output schema as the last provisioning registered it (the text is in the registry). */
export function formatOutputSchema(schema: ProductStatus['outputSchema']): string[] {
  if (!schema) return [];
  return [
    `schema      ${schema.subject} version ${schema.version} (schema id ${schema.id}, JSON Schema, ` +
      `${schema.compatibility}; revision ${schema.revision})`,
  ];
}

export function formatStatus(status: ProductStatus): string {
  const lines = [
    `product     ${status.productId}`,
    `stage       ${status.stage}`,
    `domain      ${status.spec.domain}   owner ${status.spec.owner}   kind ${status.spec.kind}`,
    `output      ${status.spec.outputTopic.name ?? '-'} (${status.spec.outputTopic.partitions} partitions, retention.ms ${status.spec.outputTopic.retentionMs}, ${status.spec.outputTopic.cleanupPolicy})`,
  ];
  lines.push(...formatOutputSchema(status.outputSchema));
  if (status.spec.description) lines.push(`description ${status.spec.description}`);
  lines.push(...formatProposal(status.spec.proposal));
  lines.push(...formatCritique(status.critique, status.preview));
  if (status.decisions.length > 0) {
    lines.push('decisions');
    for (const d of status.decisions)
      lines.push(`  ${d.at}  ${d.action} by ${d.by}${d.comment ? `: ${d.comment}` : ''}`);
  }
  lines.push('inputs');
  for (const input of status.spec.inputs)
    lines.push(
      `  ${inputAliasOf(input)} ← ${'topic' in input ? `topic ${input.topic}` : `product ${input.product}`}`,
    );
  lines.push('sql');
  lines.push(
    ...(status.spec.sql ?? '(none: the SQL guard refuses a product without one)')
      .split('\n')
      .map((l) => `  ${l}`),
  );
  if (status.sqlProblems && status.sqlProblems.length > 0) {
    lines.push('sql problems');
    for (const problem of status.sqlProblems) lines.push(`  ${problem}`);
  }
  if (status.lineage && status.lineage.length > 0) {
    lines.push('lineage');
    for (const column of status.lineage)
      lines.push(
        `  ${column.column} ← ${column.from.map((f) => `${f.input}.${f.field}`).join(', ') || '(computed)'}`,
      );
  }
  lines.push(...formatJob(status.job));
  if (status.resources.length > 0) {
    lines.push('resources');
    for (const r of status.resources) lines.push(`  ${r.kind} ${r.name}${r.id ? ` (${r.id})` : ''}`);
  }
  lines.push(...formatRecentCycles(status));
  // Every current reason the product is degraded (a job, an analysis, a table), not only the last.
  const causes = causesOf(status);
  if (causes.length > 0) lines.push('degraded by');
  for (const cause of causes) lines.push(`  ${cause.by} since ${cause.at}: ${cause.type}: ${cause.message}`);
  if (status.lastError) lines.push(`last error  ${status.lastError.type}: ${status.lastError.message}`);
  // Each entry is one line of ours; a newline, carriage return or escape inside is someone's text.
  return lines.map(visible).join('\n');
}

function formatProposal(proposal: ProductStatus['spec']['proposal']): string[] {
  if (!proposal) return [];
  const lines = [
    `proposed by ${proposal.proposedBy.kind} ${proposal.proposedBy.name}` +
      (proposal.confidence !== undefined ? ` (confidence ${proposal.confidence})` : ''),
  ];
  if (proposal.reasoning) lines.push(`reasoning   ${proposal.reasoning}`);
  for (const evidence of proposal.evidence)
    lines.push(`evidence    ${evidence.summary}${evidence.source ? ` [${evidence.source}]` : ''}`);
  return lines;
}

function formatJob(job: ProductStatus['job']): string[] {
  if (!job) return [];
  const lines = [
    `job         ${job.name} ${job.state} (revision ${job.revision}${job.id ? `, id ${job.id}` : ''}), ` +
      `${job.rejectedRecords} input records rejected, checked ${job.checkedAt}`,
  ];
  if (job.url) lines.push(`            ${job.url}`);
  if (job.failure) lines.push(`            failure: ${job.failure}`);
  if (job.savepoint) lines.push(`            stopped with savepoint ${job.savepoint}`);
  return lines;
}

const MAX_SPEC_BYTES = 1024 * 1024;
const specHint = 'give the path of a YAML or JSON spec file (examples/orders-paid-orders.yaml is one)';

/** A spec file named on the command line: there, a file, at most 1 MB; then parsed and validated. */
export async function readSpecFile(file: string): Promise<ProductSpec> {
  const stats = await stat(file).catch((error: NodeJS.ErrnoException) => {
    throw usageError(
      `cannot read the spec file ${file}: ${error.code === 'ENOENT' ? 'no such file' : error.message}`,
      specHint,
    );
  });
  if (!stats.isFile()) throw usageError(`the spec file ${file} is not a file`, specHint);
  if (stats.size > MAX_SPEC_BYTES)
    throw usageError(`the spec file ${file} has ${stats.size} bytes; a spec has at most 1 MB`, specHint);
  return loadSpecFile(file);
}

const product = ['<product>', 'product id (<domain>.<name>)', productArgument] as const;
const byText = nonEmptyText(200);
const commentText = nonEmptyText(2000);

/** What an act prints: `<product>: <stage>`, or with --json the product's status as `show --json` has it. */
function printActed(status: ProductStatus, json: boolean): void {
  printResult(json, status, () => `${status.productId}: ${status.stage}`);
}

function registerPropose(program: Command): void {
  program
    .command('propose')
    .description('Propose a data product from a spec file (YAML or JSON); it then waits for an approver')
    .argument('<spec>', 'path to the spec file')
    .addOption(jsonOption('print {productId, workflowId, stage, temporalUi} as JSON'))
    .action(async (file: string, options: { json: boolean }) => {
      const spec = await readSpecFile(file);
      await withClient(async (client, config) => {
        const { productId, workflowId } = await fromTemporal(client, config, () =>
          proposeProduct(client, config, spec),
        );
        const temporalUi = `${config.temporal.uiUrl}/namespaces/${config.temporal.namespace}/workflows/${encodeURIComponent(workflowId)}`;
        printResult(options.json, { productId, workflowId, stage: 'proposed', temporalUi }, () =>
          [
            `proposed ${productId}: waiting for approval`,
            `  approve: meshloop approve ${productId} --by <approver>`,
            `  or in the Temporal UI: ${temporalUi}`,
          ].join('\n'),
        );
      });
    });
}

type ReviewOptions = { by: string; comment?: string; spec?: string; key?: string; json: boolean };

function registerReviews(program: Command): void {
  const decide = (name: 'approve' | 'reject' | 'request-changes', description: string) => {
    const command = program
      .command(name)
      .description(description)
      .argument(...product)
      .requiredOption('--by <who>', 'who decides (must be one of the domain approvers)', byText)
      .option('--comment <text>', 'why', commentText)
      .option('--key <file>', keyOptionHelp);
    if (name === 'request-changes')
      command.requiredOption('--spec <file>', 'the amended spec the product should take');
    command.addOption(jsonOption("print the product's new status as JSON (as `show --json`)"));
    command.action(async (productId: string, options: ReviewOptions) => {
      const amended = options.spec ? await readSpecFile(options.spec) : undefined;
      await withClient(async (client, config) => {
        const workflowId = workflowIdFor(productId);
        const ask = await workerFor(client, config, workflowId);
        const handle = client.workflow.getHandle(workflowId);
        const action = name === 'approve' ? 'approve' : name === 'reject' ? 'reject' : 'requestChanges';
        const detail = amended !== undefined ? specHashOf(amended) : '';
        const act = { kind: 'approval', action, by: options.by, detail } as const;
        const signature = await ask('query', () => cliSignature(config, handle, act, options.key));
        const status = await executeWhenReady(
          () =>
            ask(name, () =>
              handle.executeUpdate(reviewUpdate, {
                args: [
                  {
                    action,
                    by: options.by,
                    comment: options.comment,
                    amendedSpec: amended,
                    via: 'cli',
                    signature,
                  },
                ],
              }),
            ),
          { onWait: waitingNote },
        );
        printActed(status, options.json);
      });
    });
  };
  decide('approve', 'Approve a proposed product (it is then provisioned)');
  decide('reject', 'Reject a proposed product');
  decide('request-changes', 'Send a proposal back with an amended spec');
}

type ListRow = Readonly<{
  productId: string;
  stage: string;
  owner: string;
  kind: string;
  proposedAt: string;
  critic: unknown;
}>;

function registerList(program: Command): void {
  program
    .command('list')
    .description('List data products, newest first')
    .option('--domain <domain>', 'only this domain', domainName)
    .addOption(choiceOption('--stage <stage>', 'only this stage', stages))
    .addOption(jsonOption('print [{productId, stage, owner, kind, proposedAt, critic}] as JSON'))
    .action(async (options: { domain?: string; stage?: string; json: boolean }) => {
      await withClient(async (client, config) => {
        const clauses = [`WorkflowType = 'dataProductWorkflow'`];
        const quote = (value: string) => `'${value.replace(/['\\]/g, '')}'`;
        if (options.domain) clauses.push(`MeshloopDomain = ${quote(options.domain)}`);
        if (options.stage) clauses.push(`MeshloopStage = ${quote(options.stage)}`);
        const rows: ListRow[] = await fromTemporal(client, config, async () => {
          const found: ListRow[] = [];
          // A product whose memo this CLI cannot decrypt is still listed (its critic unknown).
          const listing = listingClient(client, config.codec.payloadKeys);
          for await (const execution of listing.workflow.list({ query: clauses.join(' AND ') })) {
            const attributes = execution.typedSearchAttributes;
            found.push({
              productId: execution.workflowId.replace(/^data-product:/, ''),
              stage: attributes.get(meshloopSearchAttributes.stage) ?? '-',
              owner: attributes.get(meshloopSearchAttributes.owner) ?? '-',
              kind: attributes.get(meshloopSearchAttributes.kind) ?? '-',
              proposedAt: execution.startTime.toISOString(),
              // The critic's verdict and cost, as the workflow left them in its memo.
              critic: execution.memo?.critic ?? null,
            });
          }
          return found;
        });
        printResult(options.json, rows, () =>
          rows.length === 0
            ? 'no products match'
            : table([
                ['PRODUCT', 'STAGE', 'OWNER', 'KIND', 'PROPOSED', 'CRITIC'],
                ...rows.map((r) => [
                  r.productId,
                  r.stage,
                  r.owner,
                  r.kind,
                  r.proposedAt,
                  criticCellOfMemo(r.critic ?? undefined),
                ]),
              ]),
        );
      });
    });
}

function registerShow(program: Command): void {
  program
    .command('show')
    .description(
      "Show a product's stage, spec, evidence, decisions, resources, and its lineage of ideas (the product whose analysis proposed it, and those proposed from its analyses)",
    )
    .argument(...product)
    .addOption(jsonOption("print the product's status, its table and its lineage of ideas as JSON"))
    .action(async (productId: string, options: { json: boolean }) => {
      await withClient(async (client, config) => {
        const workflowId = workflowIdFor(productId);
        const ask = await workerFor(client, config, workflowId);
        const status = await ask('query', () => client.workflow.getHandle(workflowId).query(getStatusQuery));
        // The table's status is read live from the catalog: fresher than any recorded descriptor.
        const tableStatus =
          (await productTableStatus(config, status.productId, parseDuration(status.spec.sla.freshness)).catch(
            () => undefined,
          )) ?? status.materialization?.status;
        // Children of the idea lineage live in the catalog; without it the parent is still known.
        const ideas = await readIdeaLineage(config, status.productId, status.spec).catch(() => undefined);
        printResult(
          options.json,
          { ...status, table: tableStatus, ideas },
          () =>
            `${formatStatus(status)}${tableStatus ? `\ntable: ${visible(formatTableStatus(tableStatus))}` : ''}\n` +
            formatIdeaLineage(ideas, status.spec.proposal?.parentProductId),
        );
      });
    });
}

function registerRetire(program: Command): void {
  program
    .command('retire')
    .description('Retire a product (its data is kept); refused while active products read it, unless --force')
    .argument(...product)
    .requiredOption('--by <who>', 'who retires it (an operator in mesh.yaml)', byText)
    .option('--comment <text>', 'why', commentText)
    .option('--force', 'retire even though active products read it', false)
    .option('--key <file>', keyOptionHelp)
    .addOption(jsonOption("print the product's new status as JSON (as `show --json`)"))
    .action(
      async (
        productId: string,
        options: { by: string; comment?: string; force: boolean; key?: string; json: boolean },
      ) => {
        await withClient(async (client, config) => {
          const workflowId = workflowIdFor(productId);
          const ask = await workerFor(client, config, workflowId);
          const handle = client.workflow.getHandle(workflowId);
          const detail = options.force ? 'force' : '';
          const act = { kind: 'act', action: 'retire', by: options.by, detail } as const;
          const signature = await ask('query', () => cliSignature(config, handle, act, options.key));
          const status = await executeWhenReady(
            () =>
              ask('retire', () =>
                handle.executeUpdate(retireUpdate, {
                  args: [
                    {
                      by: options.by,
                      comment: options.comment,
                      force: options.force,
                      ...(signature ? { signature } : {}),
                    },
                  ],
                }),
              ),
            { onWait: waitingNote },
          );
          printActed(status, options.json);
        });
      },
    );
}

const operatorCommands = [
  {
    name: 'retry',
    description: 'Retry provisioning of a failed product once its cause is fixed',
    update: retryProvisioningUpdate,
    action: 'retryProvisioning',
    comment: 'what was fixed',
  },
  {
    name: 'redeploy',
    description:
      "Restart an active, degraded or failed product's Flink job from its savepoint or last checkpoint",
    update: redeployUpdate,
    action: 'redeploy',
    comment: 'why',
  },
  {
    name: 'deprecate',
    description: 'Mark a product as going away; its job stops with a savepoint, its topic stays readable',
    update: deprecateUpdate,
    action: 'deprecate',
    comment: 'what consumers should use instead',
  },
];

function registerOperatorCommands(program: Command): void {
  for (const operatorCommand of operatorCommands) {
    program
      .command(operatorCommand.name)
      .description(operatorCommand.description)
      .argument(...product)
      .requiredOption('--by <who>', 'who does it (an operator in mesh.yaml)', byText)
      .option('--comment <text>', operatorCommand.comment, commentText)
      .addOption(jsonOption("print the product's new status as JSON (as `show --json`)"))
      .option('--key <file>', keyOptionHelp)
      .action(
        async (productId: string, options: { by: string; comment?: string; json: boolean; key?: string }) => {
          await withClient(async (client, config) => {
            const workflowId = workflowIdFor(productId);
            const ask = await workerFor(client, config, workflowId);
            const handle = client.workflow.getHandle(workflowId);
            const act = { kind: 'act', action: operatorCommand.action, by: options.by } as const;
            const signature = await ask('query', () => cliSignature(config, handle, act, options.key));
            const status = await executeWhenReady(
              () =>
                ask(operatorCommand.name, () =>
                  handle.executeUpdate(operatorCommand.update, {
                    args: [{ by: options.by, comment: options.comment, ...(signature ? { signature } : {}) }],
                  }),
                ),
              { onWait: waitingNote },
            );
            printActed(status, options.json);
          });
        },
      );
  }
}

/** The catalog from Kafka, or a CliError `unreachable` naming the brokers when Kafka does not answer. */
async function readCatalogOrSay(config: MeshloopConfig) {
  const kafka = createKafkaClient({ connection: config.kafka, clientId: 'meshloop-cli', retries: 0 });
  try {
    return await readCatalog(kafka, {
      recordKey: processRecordKey(config.records.keyFile),
      timeoutMs: Math.max(config.cli.timeoutMs, 10_000),
    });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new CliError(
      `cannot read the catalog from Kafka at ${config.kafka.brokers.join(', ')} (${reason})`,
      {
        kind: /timed? ?out|timeout/i.test(reason) && !/connect/i.test(reason) ? 'timeout' : 'unreachable',
        hint:
          'is Kafka up? `meshloop stack up` starts the local one; `meshloop doctor` checks MESHLOOP_KAFKA_BROKERS ' +
          'and its TLS and SASL settings',
      },
    );
  }
}

function registerCatalog(program: Command): void {
  program
    .command('catalog')
    .description('Print the catalog: the newest descriptor of every product')
    .addOption(jsonOption('print [descriptor] as JSON: the newest descriptor of every product'))
    .action(async (options: { json: boolean }) => {
      const config = loadConfig();
      const { view, skipped, unsigned } = await readCatalogOrSay(config);
      // Anyone may write the catalog topic: what is not a signed descriptor is left out, and said so.
      if (skipped > unsigned)
        process.stderr.write(
          `${skipped - unsigned} catalog record(s) skipped: not a readable product descriptor\n`,
        );
      if (unsigned > 0)
        process.stderr.write(
          `${unsigned} catalog record(s) ignored: not signed by the record key in ${config.records.keyFile} (MESHLOOP_RECORD_KEY_FILE; written by hand, or by a worker with another key)\n`,
        );
      const records = view.all();
      printResult(options.json, records, () =>
        records.length === 0
          ? 'the catalog is empty'
          : table([
              ['PRODUCT', 'STAGE', 'OWNER', 'KIND', 'TOPIC', 'INPUTS', 'JOB', 'REJECTED'],
              ...records.map((d) => [
                d.productId,
                d.stage,
                d.owner,
                d.kind,
                d.outputTopic.name,
                d.inputs.map((input) => ('product' in input ? input.product : input.topic)).join(', ') || '-',
                d.job?.state ?? '-',
                String(d.job?.rejectedRecords ?? 0),
              ]),
            ]),
      );
    });
}

export function registerProductCommands(program: Command): void {
  registerPropose(program);
  registerReviews(program);
  registerList(program);
  registerShow(program);
  registerRetire(program);
  registerOperatorCommands(program);
  registerCatalog(program);
}
