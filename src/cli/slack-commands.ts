import { Client, Connection } from '@temporalio/client';
import type { Command } from 'commander';
import { dataConverterFor } from '../codec/payload-codec';
import type { MeshloopConfig } from '../config';
import { loadConfig, temporalConnectOptions } from '../config';
import type { Logger } from '../log';
import { createLogger } from '../log';
import { loadSigningKey } from '../signing/keys';
import type { RunningSlackApp } from '../slack/app';
import { startSlackApp } from '../slack/app';
import { loadMeshConfig } from '../specs/load';
import { CliError } from './errors';

/** Start the Slack app from the configuration (MESHLOOP_SLACK_*); `npm start` runs it when those are set. */
export async function startSlackFromConfig(
  config: MeshloopConfig,
  log: Logger,
): Promise<RunningSlackApp & { close: () => Promise<void> }> {
  const slack = config.slack;
  if (!slack) {
    throw new CliError('the Slack app needs MESHLOOP_SLACK_BOT_TOKEN and MESHLOOP_SLACK_SIGNING_SECRET', {
      kind: 'config',
      hint: 'set both (see .env.example and docs/slack.md), then run it again',
    });
  }
  const mesh = await loadMeshConfig(config.meshFile);
  const signingKey = slack.keyFile ? await loadSigningKey(slack.keyFile) : undefined;
  if (mesh.approvalSigning.mode === 'required' && !signingKey) {
    log.warn(
      'mesh.yaml requires signed approvals but MESHLOOP_SLACK_KEY_FILE is not set: Slack clicks will be refused',
    );
  }
  const connection = await Connection.connect(temporalConnectOptions(config.temporal.connection));
  const running = await startSlackApp({
    signingSecret: slack.signingSecret,
    botToken: slack.botToken,
    port: slack.port,
    ...(slack.apiUrl ? { apiUrl: slack.apiUrl } : {}),
    temporal: new Client({
      connection,
      namespace: config.temporal.namespace,
      dataConverter: dataConverterFor(config.codec.payloadKeys),
    }),
    mesh: () => loadMeshConfig(config.meshFile),
    ...(signingKey ? { signingKey } : {}),
    log: log.child('slack'),
  });
  return {
    ...running,
    close: async () => {
      await running.stop();
      await connection.close();
    },
  };
}

export function registerSlackCommand(program: Command): void {
  program
    .command('slack')
    .description(
      'Run the Slack app alone: approvals from Slack (interactivity URL: http://<host>:<port>/slack/interactions)',
    )
    .action(async () => {
      const config = loadConfig();
      const log = createLogger('slack', config.logLevel);
      const running = await startSlackFromConfig(config, log);
      console.log(
        `Slack app listening on port ${running.port}; interactivity path /slack/interactions. Ctrl-C stops it.`,
      );
      await new Promise<void>((resolve) => {
        for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => resolve());
      });
      await running.close();
    });
}
