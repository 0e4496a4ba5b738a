import { readFile, stat, writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { stringify } from 'yaml';
import type { MeshloopConfig } from '../config';
import { contractYaml } from '../contracts/odcs';
import { contractOfStatus } from '../contracts/of-product';
import { contractTooLarge, specOfContract } from '../contracts/odcs-import';
import { InvalidSpecError } from '../domain/errors';
import { domainConfigOf } from '../domain/mesh-config';
import { checkPolicies } from '../domain/policies';
import type { ProductSpec } from '../domain/spec';
import { workflowIdOf } from '../domain/spec';
import { decodeText, formatOfPath, loadMeshConfig } from '../specs/load';
import { waitUntil } from '../stack/probe';
import type { ProductStatus } from '../../workflows/definitions';
import { getStatusQuery } from '../../workflows/definitions';
import { CliError, proposeProduct, withClient } from './product-commands';

/** An ODCS contract file as a spec: size-checked, decoded, mapped, then every spec check. */
export async function loadContractFile(file: string, options: { by?: string } = {}): Promise<ProductSpec> {
  const bytes = (await stat(file)).size;
  const large = contractTooLarge(bytes);
  if (large) throw new InvalidSpecError(`invalid ODCS contract ${file}`, [large]);
  const value = decodeText(await readFile(file, 'utf8'), formatOfPath(file), file);
  return specOfContract(value, { source: file, ...(options.by ? { by: options.by } : {}) });
}

/** The governance policies a proposal meets first, said before anything is started. */
async function policyProblems(config: MeshloopConfig, spec: ProductSpec): Promise<string[]> {
  const mesh = await loadMeshConfig(config.meshFile);
  domainConfigOf(mesh, spec.domain);
  return checkPolicies(spec, { knownDomains: Object.keys(mesh.domains) });
}

/** The first checks' verdict (the SQL guard, the policies), as the workflow records them. */
async function firstChecks(
  read: () => Promise<ProductStatus>,
  timeoutMs: number,
): Promise<ProductStatus | undefined> {
  let last: ProductStatus | undefined;
  await waitUntil(
    async () => {
      last = await read().catch(() => undefined);
      return last !== undefined && last.stage !== 'proposed';
    },
    { timeoutMs, intervalMs: 500 },
  ).catch(() => undefined);
  return last;
}

function printVerdict(productId: string, status: ProductStatus | undefined): void {
  if (!status || status.stage === 'proposed') {
    console.log(`proposed ${productId}: its checks are still running; see \`meshloop show ${productId}\``);
    return;
  }
  const problems = [
    ...(status.sqlProblems ?? []).map((p) => `customProperties (meshloopSql): ${p}`),
    ...status.policyViolations.map((p) => `policy: ${p}`),
  ];
  if (status.stage === 'changesRequested' && problems.length > 0) {
    console.log(`proposed ${productId}: the checks ask for changes (${problems.length}):`);
    for (const problem of problems) console.log(`  - ${problem}`);
    console.log(
      `  fix the contract and send it back: meshloop request-changes ${productId} --by <approver> --spec <spec>`,
    );
    process.exitCode = 1;
    return;
  }
  console.log(`proposed ${productId}: ${status.stage}`);
  if (status.stage === 'awaitingApproval')
    console.log(`  approve: meshloop approve ${productId} --by <approver>`);
}

export function registerContractCommands(program: Command): void {
  const contract = program
    .command('contract')
    .description('Data contracts in the Open Data Contract Standard (ODCS v3.2.0): export, import');

  contract
    .command('export')
    .description(
      "Write a product's contract as ODCS YAML (schema, keys, classification, quality, SLA, servers, team, approval)",
    )
    .argument('<product>', 'product id (<domain>.<name>)')
    .option('--out <file>', 'write it to this file (default: stdout)')
    .option('--json', 'write JSON instead of YAML', false)
    .action(async (product: string, options: { out?: string; json: boolean }) => {
      await withClient(async (client, config) => {
        const id = product.startsWith('data-product:') ? product : workflowIdOf(product);
        const status = await client.workflow.getHandle(id).query(getStatusQuery);
        const document = contractOfStatus(status, config);
        const text = options.json ? `${JSON.stringify(document, null, 2)}\n` : contractYaml(document);
        if (options.out) {
          await writeFile(options.out, text);
          console.error(`wrote the contract of ${status.productId} to ${options.out}`);
        } else process.stdout.write(text);
      });
    });

  contract
    .command('import')
    .description(
      'Propose the product an ODCS contract describes (the same checks as any spec: the spec rules, the policies, then the SQL guard)',
    )
    .argument('<file>', 'the contract (YAML or JSON)')
    .option('--by <who>', 'who proposes it (the proposal names this person)')
    .option('--out <spec>', 'write the spec to this file instead of proposing it')
    .option('--wait <seconds>', 'how long to wait for the first checks (SQL guard, policies)', '60')
    .action(async (file: string, options: { by?: string; out?: string; wait: string }) => {
      const seconds = Number(options.wait);
      if (!Number.isFinite(seconds) || seconds < 0 || seconds > 3600)
        throw new CliError(`--wait must be a number of seconds from 0 to 3600 (it is ${options.wait})`);
      const waitMs = seconds * 1000;
      const spec = await loadContractFile(file, options.by ? { by: options.by } : {});
      if (options.out) {
        await writeFile(options.out, stringify(spec, { lineWidth: 0 }));
        console.log(`wrote the spec of ${spec.domain}.${spec.name} to ${options.out}`);
        return;
      }
      await withClient(async (client, config) => {
        const violations = await policyProblems(config, spec);
        if (violations.length > 0)
          throw new InvalidSpecError(`the contract ${file} breaks the mesh's policies`, violations);
        const { productId, workflowId } = await proposeProduct(client, config, spec);
        const handle = client.workflow.getHandle(workflowId);
        printVerdict(productId, await firstChecks(() => handle.query(getStatusQuery), waitMs));
      });
    });
}
