import type { Kafka } from 'kafkajs';
import { FlinkRestClient, SqlGatewayClient, terminalJobStates } from '../../src/adapters/flink';
import type { SqlGatewaySession } from '../../src/adapters/flink';
import type { MeshloopConfig } from '../../src/config';

/**
 * Flink for integration tests. The session cluster is shared by the whole test run and has few
 * slots, so every test cancels the jobs it started and closes its session, whatever happened.
 */
export class FlinkTestContext {
  readonly gateway: SqlGatewayClient;
  readonly rest: FlinkRestClient;
  private readonly jobs = new Set<string>();
  private readonly sessions: SqlGatewaySession[] = [];

  constructor(config: MeshloopConfig) {
    this.gateway = new SqlGatewayClient({ url: config.flink.sqlGatewayUrl });
    this.rest = new FlinkRestClient({ url: config.flink.restUrl });
  }

  async openSession(name: string): Promise<SqlGatewaySession> {
    const session = await this.gateway.openSession({ name });
    this.sessions.push(session);
    return session;
  }

  /** Remember a job so `cleanUp` cancels it. */
  track(jobId: string | undefined): string {
    if (!jobId) throw new Error('the statement started no Flink job');
    this.jobs.add(jobId);
    return jobId;
  }

  /** Cancel every tracked job still running and wait until each has ended. */
  async cancelJobs(): Promise<void> {
    for (const jobId of this.jobs) {
      const detail = await this.rest.job(jobId).catch(() => undefined);
      if (detail && !terminalJobStates.includes(detail.state)) {
        await this.rest.cancelJob(jobId);
        await this.rest.waitForJobState(jobId, ['CANCELED'], { timeoutMs: 60_000 });
      }
    }
    this.jobs.clear();
  }

  /** Cancel the jobs, then close the sessions. */
  async cleanUp(): Promise<void> {
    await this.cancelJobs();
    for (const session of this.sessions.splice(0)) await session.close().catch(() => undefined);
  }
}

/** Read a topic from the beginning until `count` messages arrived or the deadline passed. */
export async function consumeMessages(
  kafka: Kafka,
  topic: string,
  count: number,
  timeoutMs: number,
): Promise<Array<{ key: string | null; value: string }>> {
  const consumer = kafka.consumer({ groupId: `${topic}-reader-${Date.now()}` });
  const received: Array<{ key: string | null; value: string }> = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(`consumed ${received.length} of ${count} messages from ${topic} in ${timeoutMs} ms`),
          ),
        timeoutMs,
      );
      consumer
        .run({
          eachMessage: ({ message }) => {
            received.push({ key: message.key?.toString() ?? null, value: message.value?.toString() ?? '' });
            if (received.length >= count) {
              clearTimeout(timer);
              resolve();
            }
            return Promise.resolve();
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return received;
}

/** A SQL string literal. */
export const sqlString = (value: string) => `'${value.replace(/'/g, "''")}'`;
