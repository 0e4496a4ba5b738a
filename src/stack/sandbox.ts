import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import type { StackConfig } from '../config';
import type { LaunchPlan } from './types';

/**
 * The platform's services (Flink above all: its SQL Gateway and REST API answer any local process,
 * and a `filesystem` table or an `ADD JAR` reads any file the platform's user can) run as the user
 * who runs Meshloop. So that they cannot read that user's secrets, each starts in its own user, mount
 * and pid namespaces (`unshare`, no root needed):
 * - the folders of `hidden` are covered by an empty tmpfs and its files by `/dev/null`: signing keys,
 *   the Slack app's key, `.env` and the profile are not there to read;
 * - `/proc` is the namespace's own, so the worker's and the CLI's environment
 *   (`/proc/<pid>/environ`: payload keys, the Slack signing secret, tokens) is not there to read.
 * The service sees itself as root of a namespace that owns nothing: files it creates belong to the
 * user outside. Where user namespaces are disabled, services start as before and `stack up` says so.
 */
const script = [
  'n=$1; shift',
  'while [ "$n" -gt 0 ]; do',
  '  if [ -d "$1" ]; then mount -t tmpfs -o size=4k,mode=000 meshloop-hidden "$1" || exit 97;',
  '  else mount --bind /dev/null "$1" || exit 97; fi',
  '  shift; n=$((n - 1))',
  'done',
  'exec "$@"',
].join('\n');

const UNSHARE = ['--user', '--map-root-user', '--mount', '--pid', '--fork', '--mount-proc'];

let available: boolean | undefined;

/** True when this machine lets an unprivileged process make the namespaces (checked once). */
export function sandboxAvailable(): boolean {
  if (available === undefined) {
    try {
      execFileSync('unshare', [...UNSHARE, 'sh', '-c', 'mount --bind /dev/null /dev/null'], {
        stdio: 'ignore',
        timeout: 5000,
      });
      available = true;
    } catch {
      available = false;
    }
  }
  return available;
}

/**
 * The plan run inside the namespaces, or undefined where they cannot be made. Key folders are made
 * (0700) when missing, so that a key written there after `stack up` is hidden too.
 */
export function sandboxed(plan: LaunchPlan, hidden: StackConfig['hidden']): LaunchPlan | undefined {
  if (!sandboxAvailable()) return undefined;
  for (const dir of hidden.dirs) fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const present = [...hidden.dirs, ...hidden.files.filter((file) => fs.existsSync(file))];
  return {
    ...plan,
    command: 'unshare',
    args: [
      ...UNSHARE,
      'sh',
      '-c',
      script,
      'meshloop-sandbox',
      String(present.length),
      ...present,
      plan.command,
      ...plan.args,
    ],
  };
}
