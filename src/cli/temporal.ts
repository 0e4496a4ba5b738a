import { Client, Connection, WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import type { MeshloopConfig } from '../config';
import { loadConfig, temporalConnectOptions } from '../config';
import { dataConverterFor } from '../codec/payload-codec';
import { formatDuration } from '../domain/duration';
import { CliError, passedDeadline, toCliError } from './errors';

// Temporal for CLI commands: a connection that says where it failed, a deadline on every request
// (MESHLOOP_CLI_TIMEOUT), and a check that a worker polls before asking a workflow anything.

/** Temporal's client for a command, or a CliError `unreachable` naming the address and what to do. */
export async function connectTemporal(
  config: MeshloopConfig,
): Promise<{ client: Client; connection: Connection; close: () => Promise<void> }> {
  let connection: Connection;
  try {
    connection = await Connection.connect({
      ...temporalConnectOptions(config.temporal.connection),
      connectTimeout: Math.min(config.cli.timeoutMs, 5000),
    });
  } catch (error) {
    throw new CliError(`cannot reach Temporal at ${config.temporal.address} (${(error as Error).message})`, {
      kind: 'unreachable',
      hint:
        'is the platform up? `meshloop stack up` (or `npm start`) starts it; ' +
        '`meshloop doctor` checks TEMPORAL_ADDRESS and the other settings',
    });
  }
  return {
    client: new Client({
      connection,
      namespace: config.temporal.namespace,
      dataConverter: dataConverterFor(config.codec.payloadKeys),
    }),
    connection,
    close: () => connection.close(),
  };
}

/** Runs requests to Temporal itself (no worker involved) within MESHLOOP_CLI_TIMEOUT. */
export function fromTemporal<R>(
  client: Client,
  config: MeshloopConfig,
  request: () => Promise<R>,
): Promise<R> {
  const deadline = Date.now() + config.cli.timeoutMs;
  return client.withDeadline(deadline, request).catch((error: unknown) => {
    if (!passedDeadline(error, deadline)) throw error;
    throw new CliError(
      `Temporal at ${config.temporal.address} did not answer within ${formatDuration(config.cli.timeoutMs)}`,
      {
        kind: 'timeout',
        hint: '`meshloop stack status` shows whether it is healthy; MESHLOOP_CLI_TIMEOUT waits longer',
      },
    );
  });
}

/**
 * A CliError `no-worker` unless a worker polls `taskQueue` (Temporal lists a poller for a few
 * minutes after its last poll: a worker stopped just now still counts, and the deadline catches it).
 */
export async function requireWorker(
  client: Client,
  config: MeshloopConfig,
  taskQueue: string,
): Promise<void> {
  const { pollers } = await fromTemporal(client, config, () =>
    client.workflowService.describeTaskQueue({
      namespace: config.temporal.namespace,
      taskQueue: { name: taskQueue },
      taskQueueType: 1, // TASK_QUEUE_TYPE_WORKFLOW: the pollers of workflow tasks (queries, updates, runs)
    }),
  );
  if ((pollers ?? []).length === 0)
    throw new CliError(`no worker is running: nothing polls task queue '${taskQueue}'`, {
      kind: 'no-worker',
      hint: 'start one with `meshloop worker` (or `npm start`, which also brings up the platform), then run this again',
    });
}

/** Asks a product's worker: `ask(what, request)` runs one query or update within MESHLOOP_CLI_TIMEOUT. */
export type AskWorker = <R>(what: string, request: () => Promise<R>) => Promise<R>;

/**
 * Checks that a worker polls the task queue of the product's workflow (else nothing would answer
 * a query or an update, and the server would keep it waiting): a CliError `no-worker` at once when
 * none does. Its answer runs each request with a deadline, a CliError `timeout` when it passes.
 */
export async function workerFor(
  client: Client,
  config: MeshloopConfig,
  workflowId: string,
): Promise<AskWorker> {
  const taskQueue = await fromTemporal(client, config, async () => {
    const description = await client.workflow.getHandle(workflowId).describe();
    await requireWorker(client, config, description.taskQueue);
    return description.taskQueue;
  });
  const product = workflowId.replace(/^data-product:/, '');
  return async (what, request) => {
    const deadline = Date.now() + config.cli.timeoutMs;
    return client.withDeadline(deadline, request).catch((error: unknown) => {
      if (!passedDeadline(error, deadline)) {
        // A query the server gave up on (its own timeout, a worker gone meanwhile): not a raw "Failed to query".
        if (what === 'query' && (error as Error | null)?.name === 'ServiceError')
          throw new CliError(`the query of ${product} failed: ${toCliError(error).message}`, {
            kind: 'failed',
            hint: `is the worker on task queue '${taskQueue}' healthy? its log says why; \`meshloop worker\` starts one`,
          });
        throw error;
      }
      throw new CliError(
        `no answer to the ${what} of ${product} within ${formatDuration(config.cli.timeoutMs)}: ` +
          `a worker polled task queue '${taskQueue}' lately but none answered`,
        {
          kind: 'timeout',
          hint:
            'the worker may have stopped (Temporal lists a stopped worker for a few minutes), be stuck or busy: ' +
            'check its log, start one with `meshloop worker`, or wait longer with MESHLOOP_CLI_TIMEOUT' +
            (what === 'query'
              ? ''
              : '; the act may still be applied when a worker picks it up: `meshloop show` tells'),
        },
      );
    });
  };
}

export async function withClient<T>(run: (client: Client, config: MeshloopConfig) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const { client, close } = await connectTemporal(config);
  try {
    return await run(client, config);
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) {
      throw new CliError(
        `no such product: ${(error.workflowId ?? 'unknown').replace(/^data-product:/, '')}`,
        {
          kind: 'not-found',
          hint: '`meshloop list` shows the products',
        },
      );
    }
    if (error instanceof WorkflowUpdateFailedError) {
      const reason = error.cause instanceof Error ? error.cause.message : error.message;
      throw new CliError(`refused: ${reason}`, {
        kind: 'refused',
        hint: 'nothing was changed; `meshloop show <product>` shows its stage, approvers and decisions',
      });
    }
    throw error;
  } finally {
    await close();
  }
}
