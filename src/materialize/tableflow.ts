import type { TableflowClient, TableflowTopicConfig } from '../adapters/tableflow/client';
import { TableflowRequestError } from '../adapters/tableflow/client';
import type { MaterializationPlan } from '../domain/materialization';
import { tableStatusOf } from '../domain/materialization';
import type { Logger } from '../log';
import type { MaterializationStatus, Materializer, StartResult, StopResult, TableResult } from './types';

/**
 * Confluent Tableflow as the materializer: Tableflow itself creates and keeps the Iceberg table,
 * with the mode (append or upsert) it derives from the topic. Enabled on activation, disabled on
 * retirement. Enabling twice answers 409: the topic is already materialized, which is success.
 */
export class TableflowMaterializer implements Materializer {
  readonly provider = 'tableflow' as const;
  constructor(private readonly deps: Readonly<{ client: TableflowClient; log?: Logger }>) {}

  private config(plan: MaterializationPlan): TableflowTopicConfig {
    return {
      retention_ms: String(plan.snapshotRetentionMs),
      error_handling:
        plan.errorMode === 'log'
          ? { mode: 'LOG', log_target: `${plan.topic}_dlq` }
          : { mode: plan.errorMode === 'skip' ? 'SKIP' : 'SUSPEND' },
    };
  }

  /** Tableflow creates the table when it is enabled: nothing to do before. */
  ensureTable(plan: MaterializationPlan): Promise<TableResult> {
    return Promise.resolve({ table: plan.topic, created: false, addedColumns: [] });
  }

  async start(plan: MaterializationPlan): Promise<StartResult> {
    try {
      const topic = await this.deps.client.enable(plan.topic, this.config(plan));
      this.deps.log?.info('tableflow enabled', { productId: plan.productId, topic: plan.topic });
      return { id: topic.spec.display_name, name: plan.topic, started: true, url: topic.metadata?.self };
    } catch (error) {
      if (!(error instanceof TableflowRequestError && error.status === 409)) throw error;
      // Already enabled (a retry, or enabled by hand): make its settings the plan's.
      const topic = await this.deps.client.update(plan.topic, this.config(plan));
      this.deps.log?.info('tableflow already enabled', { productId: plan.productId, topic: plan.topic });
      return { id: topic.spec.display_name, name: plan.topic, started: false, url: topic.metadata?.self };
    }
  }

  async stop(plan: MaterializationPlan): Promise<StopResult> {
    const stopped = await this.deps.client.disable(plan.topic);
    this.deps.log?.info(stopped ? 'tableflow disabled' : 'tableflow was not enabled', {
      productId: plan.productId,
      topic: plan.topic,
    });
    return { stopped };
  }

  async describe(plan: MaterializationPlan): Promise<MaterializationStatus> {
    const topic = await this.deps.client.describe(plan.topic);
    const phase = topic?.status?.phase ?? (topic ? 'UNKNOWN' : 'NOT_FOUND');
    const failure = topic?.status?.error_message || undefined;
    return {
      provider: 'tableflow',
      state: topic?.spec.suspended ? 'SUSPENDED' : phase,
      failure,
      table: tableStatusOf({
        table: { ...plan.table, name: plan.topic },
        provider: 'tableflow',
        snapshots: 0,
        now: Date.now(),
      }),
      badRecords: 0,
      suspendedAt:
        topic?.spec.suspended && plan.errorMode === 'suspend'
          ? { topic: plan.topic, partition: -1, offset: -1, error: failure ?? 'suspended by Tableflow' }
          : undefined,
    };
  }
}
