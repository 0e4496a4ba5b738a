import path from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../config';
import { meshYamlEntry, newSigningKey, writeSigningKeyFile } from '../signing/keys';
import { usageError } from './errors';
import { jsonOption } from './options';
import { printJson } from './output';

/** `meshloop keys new`: a key pair for signing approvals; the public half goes into mesh.yaml. */
export function registerKeyCommands(program: Command): void {
  const keys = program.command('keys').description('Keys that sign approvals (mesh.yaml approvals.signing)');
  keys
    .command('new')
    .description("Create an approval signing key pair and print the public half's mesh.yaml entry")
    .option('--approver <name>', 'the approver this key signs reviews for (as in mesh.yaml)')
    .option('--operator <name>', 'the operator this key signs operator acts (and amendments) for')
    .option('--slack-app', "the Slack app's key: it signs for whoever Slack verified")
    .option('--id <id>', 'key id (default: <approver>-<date> or slack-app-<date>)')
    .option(
      '--out <file>',
      'where to write the private key (default: MESHLOOP_SIGNING_KEY_FILE or ~/.meshloop/signing-key.json)',
    )
    .addOption(jsonOption('print {file, keyId, meshYaml} as JSON (meshYaml: the entry for mesh.yaml)'))
    .action((options: KeyOptions) => createKey(options));
}

type KeyOptions = {
  approver?: string;
  operator?: string;
  slackApp?: boolean;
  id?: string;
  out?: string;
  json: boolean;
};

async function createKey(options: KeyOptions) {
  const roles = [options.approver !== undefined, options.operator !== undefined, options.slackApp === true];
  if (roles.filter(Boolean).length !== 1) {
    throw usageError(
      'say whose key it is: give one of --approver <name>, --operator <name> or --slack-app',
      'e.g. `meshloop keys new --approver alice`',
    );
  }
  const holder = options.approver ?? options.operator;
  const config = loadConfig();
  const day = new Date().toISOString().slice(0, 10).replace(/-/g, '');
  const id =
    options.id ??
    `${options.slackApp ? 'slack-app' : (holder ?? '').replace(/[^A-Za-z0-9._-]/g, '_')}-${day}`;
  const out = path.resolve(
    options.out ??
      (options.slackApp
        ? path.join(path.dirname(config.signing.keyFile), 'slack-app-key.json')
        : config.signing.keyFile),
  );
  const { key, fileText } = newSigningKey({
    id,
    ...(options.approver !== undefined ? { approver: options.approver } : {}),
    ...(options.operator !== undefined ? { operator: options.operator } : {}),
    ...(options.slackApp ? { slackApp: true } : {}),
  });
  await writeSigningKeyFile(out, fileText);
  if (options.json) {
    printJson({ file: out, keyId: id, meshYaml: meshYamlEntry(key.trusted) });
    return;
  }
  console.log(`private key written to ${out} (readable by you only; keep it out of the repository)`);
  if (options.slackApp) console.log(`point MESHLOOP_SLACK_KEY_FILE at it for \`meshloop slack\``);
  else if (out !== config.signing.keyFile)
    console.log(`point MESHLOOP_SIGNING_KEY_FILE at it so the CLI signs`);
  console.log('add the public half to mesh.yaml:\n\napprovals:\n  signing: required\n  keys:');
  console.log(meshYamlEntry(key.trusted));
}
